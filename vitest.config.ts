// Tests never pick up schedules from the user's own tune cache: what a test
// runs must not depend on what someone tuned on this machine.
import { defineConfig } from 'vitest/config';

export default defineConfig({ test: { env: { SCANFORGE_TUNE_CACHE: 'off' } } });
