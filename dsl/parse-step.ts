// The front end: ts-morph reads the program file, finds the `step` of the
// program(...) call, and turns its body into IR statements. Every rejection
// names the user's line and column and says what was expected.

import { Node, Project, SyntaxKind, type Expression, type SourceFile, type Statement } from 'ts-morph';
import { DslError } from './errors.js';
import { MATH_FUNCTIONS, type MathFn } from './functions.js';
import type { Cond, Expr, ICond, IExpr, SourceLoc, Stmt } from './ir.js';

/** What a name destructured from the step's second parameter refers to. */
export type NameKind = 'input' | 'output' | 'state' | 'flag' | 'dim';

export interface StepContext {
  /** tensor/state/flag/dim name → kind */
  names: Map<string, NameKind>;
  /** tensor or state name → its dims */
  shapes: Map<string, string[]>;
  optionalInputs: Set<string>;
  parallel: string[];
  scan: string;
}

export interface ParsedStep {
  stmts: Stmt[];
  /** Index variable → dim it ranges over (inferred from use). */
  indexDims: Map<string, string>;
  loc: SourceLoc;
}

interface LocalInfo {
  type: 'float' | 'index';
  /** Index variables the value depends on that must be bound where it is used. */
  free: Set<string>;
}

interface Scope {
  bound: Set<string>;
  present: Set<string>;
  locals: Map<string, LocalInfo>;
}

const MATH_ALIASES: Record<string, MathFn> = {
  'Math.exp': 'exp', 'Math.log': 'log', 'Math.sqrt': 'sqrt', 'Math.tanh': 'tanh', 'Math.sin': 'sin',
  'Math.cos': 'cos', 'Math.abs': 'abs', 'Math.max': 'max', 'Math.min': 'min', 'Math.pow': 'pow',
};

export function loadSourceFile(file: string): SourceFile {
  const project = new Project({ skipAddingFilesFromTsConfig: true, skipFileDependencyResolution: true });
  return project.addSourceFileAtPath(file);
}

/** Finds `step` of the program(...) call named `name` in `sf`. */
export function findStep(sf: SourceFile, name: string): Node {
  const calls = sf.getDescendantsOfKind(SyntaxKind.CallExpression).filter((c) => c.getExpression().getText() === 'program');
  for (const call of calls) {
    const obj = call.getArguments()[0];
    if (!obj || !Node.isObjectLiteralExpression(obj)) continue;
    const nameProp = obj.getProperty('name');
    const nameInit = nameProp && Node.isPropertyAssignment(nameProp) ? nameProp.getInitializer() : undefined;
    if (calls.length > 1 && !(nameInit && Node.isStringLiteral(nameInit) && nameInit.getLiteralValue() === name)) continue;
    const step = obj.getProperty('step');
    if (!step) throw new DslError(locOf(obj), `program '${name}' has no step`);
    if (Node.isMethodDeclaration(step)) return step;
    if (Node.isPropertyAssignment(step)) {
      const init = step.getInitializer();
      if (init && (Node.isArrowFunction(init) || Node.isFunctionExpression(init))) return init;
    }
    throw new DslError(locOf(step), 'step must be a function: step({ b, t, ... }, { u, h, ... }) { ... }');
  }
  throw new DslError({ file: sf.getFilePath(), line: 1, column: 1 }, `no program(...) call named '${name}' found`);
}

export function locOf(node: Node): SourceLoc {
  const sf = node.getSourceFile();
  const { line, column } = sf.getLineAndColumnAtPos(node.getStart());
  return { file: sf.getFilePath(), line, column };
}

export function parseStep(fn: Node, ctx: StepContext): ParsedStep {
  if (!(Node.isMethodDeclaration(fn) || Node.isArrowFunction(fn) || Node.isFunctionExpression(fn))) {
    throw new DslError(locOf(fn), 'step must be a function');
  }
  const params = fn.getParameters();
  if (params.length !== 2) {
    throw new DslError(locOf(fn), 'step takes two parameters: the index variables ({ b, t, n }) and the tensors ({ u, h, y })');
  }
  const indexVars = bindingNames(params[0]!.getNameNode(), 'index variables');
  const aliases = bindingNames(params[1]!.getNameNode(), 'tensors, state, flags and dims');
  const p = new StepParser(ctx, indexVars, aliases);
  for (const v of [...ctx.parallel, ctx.scan]) {
    if (!indexVars.has(v)) throw new DslError(locOf(params[0]!), `index variable '${v}' (declared in parallel/scan) is not destructured here`);
  }
  const body = fn.getBody();
  if (!body || !Node.isBlock(body)) throw new DslError(locOf(fn), 'step needs a block body { ... }');
  const scope: Scope = { bound: new Set([...ctx.parallel, ctx.scan]), present: new Set(), locals: new Map() };
  const stmts = p.block(body.getStatements(), scope);
  return { stmts, indexDims: p.indexDims, loc: locOf(fn) };
}

/** Local name → declared name, from `{ a, b: c }` patterns. */
function bindingNames(node: Node, what: string): Map<string, string> {
  if (!Node.isObjectBindingPattern(node)) throw new DslError(locOf(node), `destructure the ${what}: ({ ... })`);
  const out = new Map<string, string>();
  for (const el of node.getElements()) {
    const local = el.getNameNode().getText();
    const prop = el.getPropertyNameNode()?.getText() ?? local;
    out.set(local, prop);
  }
  return out;
}

class StepParser {
  readonly indexDims = new Map<string, string>();
  constructor(
    private readonly ctx: StepContext,
    private readonly indexVars: Map<string, string>,
    private readonly aliases: Map<string, string>,
  ) {}

  private err(node: Node, msg: string): never {
    throw new DslError(locOf(node), msg);
  }

  /** Resolves a local identifier to a declared name and its kind. */
  private declared(id: string): { name: string; kind: NameKind } | undefined {
    const name = this.aliases.get(id);
    if (name === undefined) return undefined;
    const kind = this.ctx.names.get(name);
    return kind ? { name, kind } : undefined;
  }

  block(stmts: Statement[], scope: Scope): Stmt[] {
    const out: Stmt[] = [];
    for (const s of stmts) out.push(...this.statement(s, scope));
    return out;
  }

  private statement(s: Statement, scope: Scope): Stmt[] {
    const loc = locOf(s);
    if (Node.isVariableStatement(s)) {
      const out: Stmt[] = [];
      for (const d of s.getDeclarations()) {
        const init = d.getInitializer();
        const nameNode = d.getNameNode();
        if (!Node.isIdentifier(nameNode)) this.err(nameNode, 'destructuring is not supported here; bind one name per const');
        if (!init) this.err(d, `'${nameNode.getText()}' needs a value`);
        out.push(this.bindLocal(nameNode.getText(), init, scope, locOf(d)));
      }
      return out;
    }
    if (Node.isExpressionStatement(s)) {
      const e = s.getExpression();
      if (Node.isBinaryExpression(e)) return [this.assignment(e, scope, loc)];
      this.err(s, 'a step statement is `const x = ...`, an assignment to state or output, or `if (...)`');
    }
    if (Node.isIfStatement(s)) {
      const cond = this.cond(s.getExpression());
      const thenScope: Scope = { ...scope, present: new Set([...scope.present, ...presentUnder(cond, true)]), locals: new Map(scope.locals) };
      const elseScope: Scope = { ...scope, present: new Set([...scope.present, ...presentUnder(cond, false)]), locals: new Map(scope.locals) };
      const thenS = this.blockOf(s.getThenStatement(), thenScope);
      const elseNode = s.getElseStatement();
      const elseS = elseNode ? this.blockOf(elseNode, elseScope) : [];
      // A local (re)bound in a branch is visible after the if: its type is taken from the branch.
      for (const sc of [thenScope, elseScope]) for (const [k, v] of sc.locals) if (!scope.locals.has(k) || scope.locals.get(k) !== v) mergeLocal(scope, k, v);
      return [{ k: 'if', cond, then: thenS, else: elseS, loc }];
    }
    if (Node.isBlock(s)) return this.block(s.getStatements(), scope);
    return this.err(s, `'${s.getKindName()}' is not allowed in a step: use const, assignments and if (optional/flag)`);
  }

  private blockOf(s: Statement, scope: Scope): Stmt[] {
    return Node.isBlock(s) ? this.block(s.getStatements(), scope) : this.statement(s, scope);
  }

  private bindLocal(name: string, init: Expression, scope: Scope, loc: SourceLoc): Stmt {
    if (this.declared(name) || this.indexVars.has(name)) this.err(init, `'${name}' shadows a tensor, state, dim or index variable`);
    // An index value may use index variables bound only where it is used
    // (the partner of a rotary pair: `const pair = n + 1 - 2 * mod(n, 2)`).
    const ie = this.tryIndex(init, { ...scope, bound: new Set([...scope.bound, ...this.indexVars.values()]) });
    if (ie) {
      scope.locals.set(name, { type: 'index', free: this.freeOfIndex(ie, scope) });
      return { k: 'ilet', name, expr: ie, loc };
    }
    const free = new Set<string>();
    const expr = this.expr(init, scope, free, true);
    scope.locals.set(name, { type: 'float', free });
    return { k: 'let', name, expr, loc };
  }

  private assignment(e: Node & { getOperatorToken(): Node; getLeft(): Expression; getRight(): Expression }, scope: Scope, loc: SourceLoc): Stmt {
    const op = e.getOperatorToken().getText();
    const compound: Record<string, '+' | '-' | '*' | '/'> = { '+=': '+', '-=': '-', '*=': '*', '/=': '/' };
    if (op !== '=' && !(op in compound)) this.err(e, `expected an assignment, found operator '${op}'`);
    const left = e.getLeft();
    const rightNode = e.getRight();
    // Plain identifier: rebinding a local (`y = y * silu(z)`).
    if (Node.isIdentifier(left)) {
      const name = left.getText();
      const info = scope.locals.get(name);
      if (!info) {
        const d = this.declared(name);
        if (d) this.err(left, `'${name}' is a ${d.kind}; assign to its elements with index notation, e.g. ${name}[...] = ...`);
        this.err(left, `'${name}' is not declared; use const ${name} = ...`);
      }
      const free = new Set<string>();
      let rhs = this.expr(rightNode, scope, free, true);
      if (op !== '=') rhs = { k: 'bin', op: compound[op]!, a: { k: 'local', name }, b: rhs };
      for (const f of info.free) free.add(f);
      scope.locals.set(name, { type: 'float', free });
      return { k: 'let', name, expr: rhs, loc };
    }
    const { base, idx } = this.access(left);
    const d = this.declared(base.getText());
    if (!d || (d.kind !== 'state' && d.kind !== 'output')) {
      this.err(base, `only state and outputs can be assigned; '${base.getText()}' is ${d ? `an ${d.kind}` : 'not declared in the step parameters'}`);
    }
    const shape = this.ctx.shapes.get(d.name)!;
    if (idx.length !== shape.length) this.err(left, `${d.name} has ${shape.length} dims (${shape.join(', ')}), but ${idx.length} indices are given`);
    const stmtScope: Scope = { ...scope, bound: new Set(scope.bound) };
    if (d.kind === 'state') {
      const vars = idx.map((ix, i) => {
        if (!Node.isIdentifier(ix) || !this.indexVars.has(ix.getText())) this.err(ix, `state ${d.name} is assigned for every value of index variables: write ${d.name}[n] with n from the step's first parameter`);
        const v = this.indexVars.get(ix.getText())!;
        if (scope.bound.has(v)) this.err(ix, `index '${v}' is already bound here (parallel or scan axis); a state index must range over the state's own dims`);
        this.noteDim(ix, v, shape[i]!, d.name, i);
        stmtScope.bound.add(v);
        return v;
      });
      if (new Set(vars).size !== vars.length) this.err(left, `repeated index in ${d.name}[...]`);
      const free = new Set<string>();
      let rhs = this.expr(rightNode, stmtScope, free, false);
      if (op !== '=') rhs = { k: 'bin', op: compound[op]!, a: { k: 'state', name: d.name, idx: vars.map((v) => ({ k: 'ivar', name: v })) }, b: rhs };
      return { k: 'setState', name: d.name, idx: vars, expr: rhs, loc };
    }
    // Output store: unbound bare index variables become bound by the store.
    const iexprs = idx.map((ix, i) => {
      if (Node.isIdentifier(ix) && this.indexVars.has(ix.getText())) {
        const v = this.indexVars.get(ix.getText())!;
        this.noteDim(ix, v, shape[i]!, d.name, i);
        stmtScope.bound.add(v);
      }
      return ix;
    }).map((ix) => this.index(ix, stmtScope));
    if (!iexprs.some((ie) => ie.k === 'ivar' && ie.name === this.ctx.scan)) {
      this.err(left, `output ${d.name} is written once per step: index it with the scan variable '${this.ctx.scan}'`);
    }
    if (op !== '=') this.err(e, `outputs are written once per step; use '=' (compute the value in a const first)`);
    const free = new Set<string>();
    const rhs = this.expr(rightNode, stmtScope, free, false);
    return { k: 'store', tensor: d.name, idx: iexprs, expr: rhs, loc };
  }

  /** Splits `x[i][j]` into base identifier and index nodes. */
  private access(node: Node): { base: Node; idx: Expression[] } {
    const idx: Expression[] = [];
    let cur: Node = node;
    while (Node.isElementAccessExpression(cur)) {
      const arg = cur.getArgumentExpression();
      if (!arg) this.err(cur, 'missing index');
      idx.unshift(arg);
      cur = cur.getExpression();
    }
    if (!Node.isIdentifier(cur)) this.err(cur, 'expected a tensor or state name before the indices');
    return { base: cur, idx };
  }

  private noteDim(node: Node, v: string, dim: string, tensor: string, pos: number): void {
    const prev = this.indexDims.get(v);
    if (prev && prev !== dim) {
      this.err(node, `index '${v}' ranges over ${prev} elsewhere, but position ${pos} of ${tensor} is ${dim}`);
    }
    this.indexDims.set(v, dim);
  }

  private cond(e: Expression): Cond {
    if (Node.isParenthesizedExpression(e)) return this.cond(e.getExpression());
    if (Node.isPrefixUnaryExpression(e) && e.getOperatorToken() === SyntaxKind.ExclamationToken) return { k: 'not', c: this.cond(e.getOperand()) };
    if (Node.isBinaryExpression(e)) {
      const op = e.getOperatorToken().getText();
      if (op === '&&' || op === '||') return { k: op === '&&' ? 'and' : 'or', a: this.cond(e.getLeft()), b: this.cond(e.getRight()) };
    }
    if (Node.isIdentifier(e)) {
      const d = this.declared(e.getText());
      if (d?.kind === 'flag') return { k: 'flag', name: d.name };
      if (d?.kind === 'input' && this.ctx.optionalInputs.has(d.name)) return { k: 'present', tensor: d.name };
      if (d?.kind === 'input') this.err(e, `'${d.name}' is a required input, so it is always present; only optional inputs and flags can be tested`);
    }
    return this.err(e, 'an if condition tests an optional input or a flag (with !, && and ||); data-dependent branches are not supported (to choose a value by index, use where(n < k, a, b))');
  }

  /** Parses an index expression, or returns undefined if `e` is not one. */
  private tryIndex(e: Expression, scope: Scope): IExpr | undefined {
    try {
      return this.index(e, scope, true);
    } catch (err) {
      if (err instanceof NotIndex) return undefined;
      throw err;
    }
  }

  private index(e: Expression, scope: Scope, probing = false): IExpr {
    const fail = (msg: string): never => {
      if (probing) throw new NotIndex();
      return this.err(e, msg);
    };
    if (Node.isParenthesizedExpression(e)) return this.index(e.getExpression(), scope, probing);
    if (Node.isNumericLiteral(e)) {
      const v = e.getLiteralValue();
      return Number.isInteger(v) ? { k: 'iconst', v } : fail(`index ${e.getText()} is not an integer`);
    }
    if (Node.isIdentifier(e)) {
      const id = e.getText();
      const iv = this.indexVars.get(id);
      if (iv !== undefined) {
        if (!scope.bound.has(iv)) fail(`index '${iv}' is not bound here: it is neither a parallel/scan axis, an index of the assigned state/output, nor bound by sum(${iv}, ...)`);
        return { k: 'ivar', name: iv };
      }
      const d = this.declared(id);
      if (d?.kind === 'dim') return { k: 'idim', name: d.name };
      const local = scope.locals.get(id);
      if (local?.type === 'index') {
        for (const f of local.free) if (!scope.bound.has(f)) fail(`'${id}' depends on index '${f}', which is not bound here`);
        return { k: 'ivar', name: id };
      }
      return fail(`'${id}' is not an index variable, dim or index constant`);
    }
    if (Node.isBinaryExpression(e)) {
      const op = e.getOperatorToken().getText();
      if (op === '+' || op === '-' || op === '*') return { k: 'ibin', op, a: this.index(e.getLeft(), scope, probing), b: this.index(e.getRight(), scope, probing) };
      if (op === '/') fail('use div(a, b) for integer division of indices');
      if (op === '%') return { k: 'ibin', op: 'mod', a: this.index(e.getLeft(), scope, probing), b: this.index(e.getRight(), scope, probing) };
      return fail(`operator '${op}' is not allowed in an index`);
    }
    const callee = Node.isCallExpression(e) ? e.getExpression().getText() : undefined;
    if (Node.isCallExpression(e) && (callee === 'div' || callee === 'mod')) {
      const args = e.getArguments() as Expression[];
      if (args.length !== 2) fail(`${callee} takes two arguments`);
      return { k: 'ibin', op: callee, a: this.index(args[0]!, scope, probing), b: this.index(args[1]!, scope, probing) };
    }
    return fail(`'${e.getText()}' is not an index expression (index variables, dims, integers, + - *, div, mod, %)`);
  }

  private freeOfIndex(e: IExpr, scope: Scope): Set<string> {
    const out = new Set<string>();
    const walk = (x: IExpr): void => {
      if (x.k === 'ivar') {
        const local = scope.locals.get(x.name);
        if (local) for (const f of local.free) out.add(f);
        else if (!this.isAlwaysBound(x.name)) out.add(x.name);
      } else if (x.k === 'ibin') { walk(x.a); walk(x.b); }
    };
    walk(e);
    return out;
  }

  private isAlwaysBound(v: string): boolean {
    return this.ctx.parallel.includes(v) || v === this.ctx.scan;
  }

  /**
   * Parses a value expression. `free` collects index variables the value
   * needs bound beyond the always-bound axes. With `deferScope`, unbound
   * index variables are allowed (a const binding is bound at its use).
   */
  private expr(e: Expression, scope: Scope, free: Set<string>, deferScope: boolean): Expr {
    const sub = (x: Expression): Expr => this.expr(x, scope, free, deferScope);
    if (Node.isParenthesizedExpression(e)) return sub(e.getExpression());
    if (Node.isNumericLiteral(e)) return { k: 'num', v: e.getLiteralValue() };
    if (Node.isPrefixUnaryExpression(e)) {
      const op = e.getOperatorToken();
      if (op === SyntaxKind.MinusToken) return { k: 'neg', a: sub(e.getOperand()) };
      if (op === SyntaxKind.PlusToken) return sub(e.getOperand());
      this.err(e, `operator '${e.getText()[0]}' is not allowed in a value`);
    }
    if (Node.isBinaryExpression(e)) {
      const op = e.getOperatorToken().getText();
      if (op === '+' || op === '-' || op === '*' || op === '/') return { k: 'bin', op, a: sub(e.getLeft()), b: sub(e.getRight()) };
      if (op === '**') return { k: 'call', fn: 'pow', args: [sub(e.getLeft()), sub(e.getRight())] };
      if (op === '%') return { k: 'call', fn: 'mod', args: [sub(e.getLeft()), sub(e.getRight())] };
      this.err(e.getOperatorToken(), `operator '${op}' is not allowed in a value (use + - * / ** %)`);
    }
    if (Node.isPropertyAccessExpression(e) && e.getText() === 'Math.PI') return { k: 'num', v: Math.PI };
    if (Node.isIdentifier(e)) return this.identifierValue(e, scope, free, deferScope);
    if (Node.isElementAccessExpression(e)) return this.read(e, scope, free, deferScope);
    if (Node.isCallExpression(e)) return this.call(e, scope, free, deferScope);
    return this.err(e, `'${e.getText()}' is not allowed in a step value (numbers, tensors, state, consts, + - * /, math functions, sum)`);
  }

  private identifierValue(e: Expression, scope: Scope, free: Set<string>, deferScope: boolean): Expr {
    const id = e.getText();
    const local = scope.locals.get(id);
    if (local) {
      for (const f of local.free) this.useIndex(e, f, scope, free, deferScope);
      return local.type === 'index' ? { k: 'ival', e: { k: 'ivar', name: id } } : { k: 'local', name: id };
    }
    const iv = this.indexVars.get(id);
    if (iv !== undefined) {
      this.useIndex(e, iv, scope, free, deferScope);
      return { k: 'ival', e: { k: 'ivar', name: iv } };
    }
    const d = this.declared(id);
    if (d?.kind === 'dim') return { k: 'ival', e: { k: 'idim', name: d.name } };
    if (d?.kind === 'flag') this.err(e, `flag '${d.name}' can only be tested with if (${d.name})`);
    if (d) this.err(e, `${d.kind} '${d.name}' needs indices, e.g. ${d.name}[...]`);
    return this.err(e, `'${id}' is not defined in the step (declare it with const, or destructure it from the step's parameters)`);
  }

  private useIndex(node: Node, v: string, scope: Scope, free: Set<string>, deferScope: boolean): void {
    if (this.isAlwaysBound(v)) return;
    if (!scope.bound.has(v)) {
      if (!deferScope) this.err(node, `index '${v}' is not bound here: bind it with sum(${v}, ...) or by assigning to a state or output indexed by ${v}`);
      free.add(v);
    }
  }

  private read(e: Expression, scope: Scope, free: Set<string>, deferScope: boolean): Expr {
    const { base, idx } = this.access(e);
    const d = this.declared(base.getText());
    if (!d || (d.kind !== 'input' && d.kind !== 'state')) {
      if (d?.kind === 'output') this.err(base, `output ${d.name} cannot be read in the step; keep the value in a const`);
      this.err(base, `'${base.getText()}' is not an input or state of this program`);
    }
    if (d.kind === 'input' && this.ctx.optionalInputs.has(d.name) && !scope.present.has(d.name)) {
      this.err(base, `${d.name} is optional: read it inside if (${base.getText()}) { ... }`);
    }
    const shape = this.ctx.shapes.get(d.name)!;
    if (idx.length !== shape.length) this.err(e, `${d.name} has ${shape.length} dims (${shape.join(', ')}), but ${idx.length} indices are given`);
    const iexprs = idx.map((ix, i) => {
      if (Node.isIdentifier(ix) && this.indexVars.has(ix.getText())) this.noteDim(ix, this.indexVars.get(ix.getText())!, shape[i]!, d.name, i);
      const probeScope: Scope = { ...scope, bound: new Set([...scope.bound, ...(deferScope ? this.indexVars.values() : [])]) };
      const ie = this.index(ix, probeScope);
      for (const f of this.freeOfIndex(ie, scope)) this.useIndex(ix, f, scope, free, deferScope);
      return ie;
    });
    return d.kind === 'input' ? { k: 'load', tensor: d.name, idx: iexprs } : { k: 'state', name: d.name, idx: iexprs };
  }

  /**
   * The condition of where(): comparisons of index expressions joined by
   * && || !. Anything that reads data is refused at its own position.
   */
  private icond(e: Expression, scope: Scope, free: Set<string>, deferScope: boolean): ICond {
    if (Node.isParenthesizedExpression(e)) return this.icond(e.getExpression(), scope, free, deferScope);
    if (Node.isPrefixUnaryExpression(e) && e.getOperatorToken() === SyntaxKind.ExclamationToken) {
      return { k: 'inot', c: this.icond(e.getOperand(), scope, free, deferScope) };
    }
    if (Node.isBinaryExpression(e)) {
      const op = e.getOperatorToken().getText();
      if (op === '&&' || op === '||') {
        return { k: op === '&&' ? 'iand' : 'ior', a: this.icond(e.getLeft(), scope, free, deferScope), b: this.icond(e.getRight(), scope, free, deferScope) };
      }
      const cmp = COMPARISONS[op];
      if (cmp) return { k: 'icmp', op: cmp, a: this.indexOperand(e.getLeft(), scope, free, deferScope), b: this.indexOperand(e.getRight(), scope, free, deferScope) };
    }
    return this.err(e, `the condition of where compares index expressions (< <= > >= == !=, joined by && || !), e.g. where(n < 2 * angles, a, b); '${e.getText()}' is not such a comparison`);
  }

  /** One side of a where comparison: an index expression whose variables are bound (or deferred, in a const). */
  private indexOperand(x: Expression, scope: Scope, free: Set<string>, deferScope: boolean): IExpr {
    const all: Scope = { ...scope, bound: new Set([...scope.bound, ...this.indexVars.values()]) };
    try {
      this.index(x, all, true);
    } catch (err) {
      if (!(err instanceof NotIndex)) throw err;
      this.err(x, `the condition of where compares index expressions (index variables, dims, integers, + - *, div, mod); '${x.getText()}' is not one: where cannot select on data`);
    }
    const probeScope: Scope = deferScope ? all : scope;
    const ie = this.index(x, probeScope);
    for (const f of this.freeOfIndex(ie, scope)) this.useIndex(x, f, scope, free, deferScope);
    return ie;
  }

  private call(e: Node & { getExpression(): Node; getArguments(): Node[] }, scope: Scope, free: Set<string>, deferScope: boolean): Expr {
    const callee = e.getExpression().getText();
    const args = e.getArguments() as Expression[];
    if (callee === 'where') {
      if (args.length !== 3) this.err(e, `where takes a condition on indices and two values, e.g. where(n < 2 * angles, a, b); got ${args.length} argument${args.length === 1 ? '' : 's'}`);
      const cond = this.icond(args[0]!, scope, free, deferScope);
      return { k: 'where', cond, a: this.expr(args[1]!, scope, free, deferScope), b: this.expr(args[2]!, scope, free, deferScope) };
    }
    if (callee === 'sum') {
      const [iv, body] = args;
      if (args.length !== 2 || !iv || !body || !Node.isIdentifier(iv) || !this.indexVars.has(iv.getText())) {
        this.err(e, 'sum takes an index variable and a body: sum(n, C[n] * h[n])');
      }
      const v = this.indexVars.get(iv.getText())!;
      if (scope.bound.has(v)) this.err(iv, `index '${v}' is already bound here; sum needs an index of its own`);
      const inner: Scope = { ...scope, bound: new Set([...scope.bound, v]) };
      const innerFree = new Set<string>();
      const b = this.expr(body, inner, innerFree, deferScope);
      innerFree.delete(v);
      for (const f of innerFree) free.add(f);
      const dim = this.indexDims.get(v);
      if (!dim) this.err(iv, `cannot tell which dim '${v}' ranges over: index a tensor with it inside the sum`);
      return { k: 'sum', index: v, dim, body: b };
    }
    const fn: MathFn | undefined = callee in MATH_FUNCTIONS ? (callee as MathFn) : MATH_ALIASES[callee];
    if (!fn) this.err(e.getExpression(), `unknown function '${callee}'; available: ${Object.keys(MATH_FUNCTIONS).join(', ')}, sum, div, where`);
    const arity = MATH_FUNCTIONS[fn];
    if (args.length !== arity) this.err(e, `${fn} takes ${arity} argument${arity > 1 ? 's' : ''}, got ${args.length}`);
    return { k: 'call', fn, args: args.map((a) => this.expr(a, scope, free, deferScope)) };
  }
}

class NotIndex extends Error {}

const COMPARISONS: Record<string, Extract<ICond, { k: 'icmp' }>['op']> = {
  '<': '<', '<=': '<=', '>': '>', '>=': '>=', '==': '==', '===': '==', '!=': '!=', '!==': '!=',
};

function presentUnder(c: Cond, truth: boolean): string[] {
  if (c.k === 'present') return truth ? [c.tensor] : [];
  if (c.k === 'not') return presentUnder(c.c, !truth);
  if (c.k === 'and' && truth) return [...presentUnder(c.a, true), ...presentUnder(c.b, true)];
  if (c.k === 'or' && !truth) return [...presentUnder(c.a, false), ...presentUnder(c.b, false)];
  return [];
}

function mergeLocal(scope: Scope, k: string, v: LocalInfo): void {
  const prev = scope.locals.get(k);
  if (!prev) { scope.locals.set(k, v); return; }
  scope.locals.set(k, { type: prev.type === 'index' && v.type === 'index' ? 'index' : 'float', free: new Set([...prev.free, ...v.free]) });
}
