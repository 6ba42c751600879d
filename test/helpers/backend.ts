// Backends that misbehave on purpose, to show that a check fails when it
// should (a kernel that writes nothing, results off by a little, a device
// with fewer bindings).

import type { Backend } from '../../runtime/backend.ts';

/** A backend that behaves like `inner` except where `overrides` says (methods are bound to `inner`). */
export function wrapBackend<B extends Backend>(inner: B, overrides: Partial<B>): B {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop in overrides) return overrides[prop as keyof B];
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
