#!/usr/bin/env node
// The installed `scanforge` command: registers tsx so program files (and the
// compiler itself) load as TypeScript, then runs the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`scanforge: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  },
);
