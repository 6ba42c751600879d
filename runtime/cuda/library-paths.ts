// Where to look for the two native libraries the CUDA backend needs.
//
// libcuda comes with the driver and is normally on the loader path, so a plain
// dlopen name is enough. NVRTC is part of the toolkit and is often *not* on
// the loader path: GPU hosts may have it only inside a CUDA install tree or a
// pip wheel (nvidia-cuda-nvrtc), so we also probe those folders. This module
// only lists candidates; driver.ts / nvrtc.ts try them in order, which keeps
// the search order testable without any native library present.

import { readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

type Env = Record<string, string | undefined>;

/**
 * Candidates for libcuda, best first. SCANFORGE_LIBCUDA, when set, is the only
 * candidate: an explicit override that silently fell back to another library
 * would hide a misconfiguration.
 */
export function libcudaCandidates(env: Env = process.env): string[] {
  const override = env.SCANFORGE_LIBCUDA;
  if (override) return [override];
  return [
    'libcuda.so.1',
    'libcuda.so',
    // Container images mount the driver here without always running ldconfig.
    '/usr/local/nvidia/lib64/libcuda.so.1',
    '/usr/lib/x86_64-linux-gnu/libcuda.so.1',
    '/usr/lib64/libcuda.so.1',
    '/usr/lib/wsl/lib/libcuda.so.1',
  ];
}

/** NVRTC sonames, newest first; the unversioned name is what a dev install provides. */
const NVRTC_NAMES = ['libnvrtc.so', 'libnvrtc.so.13', 'libnvrtc.so.12'];

/** Folders (glob patterns, `*` within one path segment) that may hold NVRTC. */
function nvrtcFolders(env: Env): string[] {
  const folders: string[] = [];
  for (const root of [env.CUDA_HOME, env.CUDA_PATH]) {
    if (root) folders.push(join(root, 'lib64'), join(root, 'targets/x86_64-linux/lib'));
  }
  folders.push(
    '/usr/local/cuda/lib64',
    '/usr/local/cuda/targets/x86_64-linux/lib',
    '/usr/local/cuda-*/lib64',
    '/usr/local/cuda-*/targets/x86_64-linux/lib',
  );
  // pip wheels: CUDA 13 wheels put everything under nvidia/cu13/lib, CUDA 12
  // wheels under nvidia/cuda_nvrtc/lib.
  for (const site of sitePackageDirs(env)) {
    folders.push(join(site, 'nvidia/cu13/lib'), join(site, 'nvidia/cuda_nvrtc/lib'));
  }
  return folders;
}

/** Python site-packages folders (patterns) where pip's nvidia-* wheels may live. */
function sitePackageDirs(env: Env): string[] {
  const dirs = [
    '/usr/local/lib/python3*/dist-packages',
    '/usr/local/lib/python3*/site-packages',
    '/usr/lib/python3/dist-packages',
    '/opt/*/.venv/lib/python3*/site-packages',
    '/opt/conda/lib/python3*/site-packages',
    join(homedir(), '.local/lib/python3*/site-packages'),
  ];
  if (env.VIRTUAL_ENV) dirs.unshift(join(env.VIRTUAL_ENV, 'lib/python3*/site-packages'));
  return dirs;
}

/**
 * Candidates for NVRTC, best first: SCANFORGE_NVRTC alone if set, else the
 * plain sonames (whatever the loader path gives), then every matching file in
 * the known folders.
 */
export function nvrtcCandidates(env: Env = process.env): string[] {
  const override = env.SCANFORGE_NVRTC;
  if (override) return [override];
  const out = [...NVRTC_NAMES];
  for (const pattern of nvrtcFolders(env)) {
    for (const dir of expandGlob(pattern)) {
      for (const name of NVRTC_NAMES) {
        const file = join(dir, name);
        if (isFile(file) && !out.includes(file)) out.push(file);
      }
    }
  }
  return out;
}

/**
 * Include folders for the toolkit's headers (cuda_fp16.h and friends), for
 * NVRTC builds that lack them built in. SCANFORGE_CUDA_INCLUDE (':'-separated)
 * overrides the search. CUDA 13's fp16/bf16 headers include CCCL's
 * `nv/target`, which lives in a separate folder (include/cccl in a toolkit,
 * another wheel under pip), so that folder is returned too when present.
 */
export function cudaIncludeDirs(env: Env = process.env): string[] {
  const override = env.SCANFORGE_CUDA_INCLUDE;
  if (override) return override.split(':').filter(Boolean);
  const roots: string[] = [];
  for (const root of [env.CUDA_HOME, env.CUDA_PATH]) if (root) roots.push(join(root, 'include'));
  roots.push('/usr/local/cuda/include', ...expandGlob('/usr/local/cuda-*/include'), '/usr/local/cuda/targets/x86_64-linux/include');
  for (const site of sitePackageDirs(env)) {
    roots.push(join(site, 'nvidia/cu13/include'), join(site, 'nvidia/cuda_runtime/include'));
  }
  for (const pattern of roots) {
    for (const inc of pattern.includes('*') ? expandGlob(pattern) : [pattern]) {
      if (!isFile(join(inc, 'cuda_fp16.h'))) continue;
      const dirs = [inc];
      // Toolkit layout first, then the pip cccl wheel beside the headers' wheel.
      const cccl = [join(inc, 'cccl'), join(inc, '../../cuda_cccl/include'), join(inc, '../../cu13/include/cccl')].find(
        (d) => isFile(join(d, 'nv/target')),
      );
      if (cccl) dirs.push(cccl);
      return dirs;
    }
  }
  return [];
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Expands `*` within path segments (Node 20 has no fs.glob). Returns existing
 * directories only, sorted descending so that higher versions
 * (cuda-13.0 before cuda-12.4, python3.12 before python3.10) come first.
 */
export function expandGlob(pattern: string): string[] {
  const segments = pattern.split('/');
  let paths = [pattern.startsWith('/') ? '/' : '.'];
  for (const seg of segments) {
    if (seg === '') continue;
    const next: string[] = [];
    for (const base of paths) {
      if (!seg.includes('*')) {
        next.push(join(base, seg));
        continue;
      }
      const re = new RegExp('^' + seg.split('*').map(escapeRegExp).join('.*') + '$');
      let entries: string[];
      try {
        entries = readdirSync(base);
      } catch {
        continue;
      }
      const matches = entries.filter((n) => re.test(n));
      matches.sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
      for (const e of matches) next.push(join(base, e));
    }
    paths = next;
  }
  return paths.filter(isDir);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}
