// What a screen worker does (screen-worker.js loads it): render its share of
// the points and send back their verdicts, in order.
import { parentPort, workerData } from 'node:worker_threads';
import type { SpecializedProgram } from '../../dsl/ir.js';
import type { Backend, DeviceLimits } from '../backend.js';
import type { Dims } from '../shapes.js';
import { renderVerdict } from './search.js';
import type { Knobs } from './space.js';

const { sp, points, kind, limits, dims } = workerData as { sp: SpecializedProgram; points: Knobs[]; kind: Backend['kind']; limits: DeviceLimits; dims: Dims };
parentPort!.postMessage(points.map((p) => renderVerdict(sp, p, kind, limits, dims)));
