// A screen worker thread (screen-pool.ts). Plain JavaScript: the thread has
// a TypeScript loader only where its parent's reaches it (not bin.js's
// registration, nor vitest's, nor always the tsx command line's), so where
// the TypeScript module does not load it registers tsx and loads it again
// (under another URL: a failed import stays failed under its own).
import { register } from 'tsx/esm/api';

try {
  await import('./screen-worker-main.ts');
} catch (e) {
  if (e?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw e;
  register();
  await import('./screen-worker-main.ts?registered');
}
