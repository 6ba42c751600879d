export UV_THREADPOOL_SIZE=16
timeout 130 bash .gpu/enter tsx bench/mamba2-check.ts --backends=cuda --dtypes=bf16 > $OUT/check.log 2>&1; echo check rc=$?
grep -E "FAIL|mamba2-check" $OUT/check.log | head; grep -c "^ok" $OUT/check.log
TORCH_BASELINE=bench/logs/mamba2-torch-run9.json timeout 150 bash .gpu/enter tsx bench/mamba2.ts --backends=cuda --no-generic --dtypes=bf16,f32 --schedules=t128q32,t256q32p64 > $OUT/bench-cuda.log 2>&1; echo bench rc=$?
grep -E "ssd t|^\|" $OUT/bench-cuda.log | sed 's/\[.*//'
TORCH_BASELINE=bench/logs/mamba2-torch-run9.json timeout 120 bash .gpu/enter tsx bench/mamba2.ts --backends=webgpu --no-generic --dtypes=f32 --schedules=t256q32,t128q32 > $OUT/bench-webgpu.log 2>&1; echo benchw rc=$?
grep -E "ssd t|^\|" $OUT/bench-webgpu.log | sed 's/\[.*//'
