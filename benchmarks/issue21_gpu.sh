#!/usr/bin/env bash
# Issue 21 on one H200, in one device command (the `device` tool; wheels installed into /tmp/site before, see
# docs/performance.md): the fused-MLP kernels checked stage by stage, NeRF training before (the tree of the commit
# before issue 21's training changes, unpacked in .devcarry/old) and after (fp32, TF32) on one corpus, then the
# video benchmark with the fused kernels. Results (json + logs) land in $OUT. Prepare here, once:
#   mkdir -p .devcarry/old && git archive 82c55c6 emohead benchmarks | tar -x -C .devcarry/old
# then carry .devcarry/old with the wheels (.devcarry/ is git-ignored through .git/info/exclude).
#
#   bash benchmarks/issue21_gpu.sh        # checks, before / after training, video
#   bash benchmarks/issue21_gpu.sh ab     # training before, after, before, after (one corpus), a 16,384-ray batch,
#                                         # then the video benchmark with the shipped defaults
#   bash benchmarks/issue21_gpu.sh merge     # round 4: hash grid on a trained model's real points + merge ceilings
#   bash benchmarks/issue21_gpu.sh twostage [short]  # round 4: two-stage training, eager / graph, fp32 / fp16
#   bash benchmarks/issue21_gpu.sh graph  # training before, eager, CUDA-graph step (fp32, TF32), eager again, then the
#                                         # video benchmark's first use in a process (--cold)
set -u
export PYTHONPATH=/tmp/site:.
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
S=$(date +%s); F=0
el() { echo "$1 $(( $(date +%s) - S )) s"; }
train() {   # train NAME WORKDIR [--set ...]: the current tree's photometric training, training rows only; the eager
  # step unless a --set nerf.train_step=graph follows (the later --set wins; the gpu profile's default is graph now)
  local name=$1 work=$2; shift 2; mkdir -p "$work"; [ "$work" = /tmp/w ] || ln -sfn /tmp/w/data "$work/data"
  timeout 150 python3 benchmarks/nerf_speed.py --device cuda --profile gpu --work "$work" --name "$name" \
    --results "$OUT" --skip-render --set nerf.train_step=eager "$@" > "$OUT/$name.log" 2>&1; el "$name"
}
before() {  # before NAME WORKDIR: the tree before issue 21's training changes (.devcarry/old)
  mkdir -p "$2"; [ "$2" = /tmp/w ] || ln -sfn /tmp/w/data "$2/data"
  timeout 150 env PYTHONPATH=/tmp/site:.devcarry/old python3 .devcarry/old/benchmarks/nerf_speed.py --device cuda \
    --profile gpu --work "$2" --name "$1" --results "$OUT" > "$OUT/$1.log" 2>&1; el "$1"
}
if [ "${1:-}" = merge ]; then     # round 4: the hash grid on a trained model's real points, with the ceilings of any
  # merging backward (hashgrid_speed.py merge_ceiling); json files only in $OUT, logs in /tmp/logs
  mkdir -p /tmp/logs
  train train_graph_fp16 /tmp/w --set nerf.train_step=graph --set nerf.train_precision=fp16; mv "$OUT/train_graph_fp16.log" /tmp/logs/
  grep -h "^{" /tmp/logs/train_graph_fp16.log | cut -c1-250
  timeout 120 python3 benchmarks/capture_points.py --device cuda --profile gpu --trained /tmp/w/nerf_gpu --data /tmp/w/data \
    --out /tmp/points.npz 2>&1 | tail -n 4; el capture
  timeout 330 python3 benchmarks/hashgrid_speed.py --device cuda --no-compile --warmup 5 --repeats 30 \
    --points-file /tmp/points.npz --results "$OUT" --name hashgrid_speed_gpu_merge > /tmp/logs/hashgrid.log 2>&1; el hashgrid
  grep "^{" /tmp/logs/hashgrid.log | cut -c1-330; grep -i "error\|Traceback" /tmp/logs/hashgrid.log | head -n 5
  exit 0
fi
if [ "${1:-}" = tiles ]; then     # round 4: single pixels vs 4 x 4 tiles (graph step, the gpu default now), then the
  # hash grid on that model's real points, tiles ray by ray and depth by depth
  mkdir -p /tmp/logs
  train train_graph_pixels /tmp/w --set nerf.train_step=graph; mv "$OUT/train_graph_pixels.log" /tmp/logs/
  train train_graph_tile4 /tmp/a1 --set nerf.train_step=graph --set nerf.ray_tile=4
  mv "$OUT/train_graph_tile4.log" /tmp/logs/
  grep -h "^{" /tmp/logs/train_graph_*.log | cut -c1-250
  timeout 120 python3 benchmarks/capture_points.py --device cuda --profile gpu --trained /tmp/w/nerf_gpu \
    --data /tmp/w/data --out /tmp/points.npz 2>&1 | tail -n 4; el capture
  timeout 300 python3 benchmarks/hashgrid_speed.py --device cuda --no-compile --warmup 5 --repeats 30 --sets tile trainer \
    --merge-blocks 128 512 --points-file /tmp/points.npz --results "$OUT" --name hashgrid_speed_gpu_tiles \
    > /tmp/logs/hashgrid.log 2>&1; el hashgrid; grep -i "error\|Traceback" /tmp/logs/hashgrid.log | head -n 5
  python3 -c "import json; d=json.load(open('$OUT/hashgrid_speed_gpu_tiles.json')); print('\n'.join(d['notes'][1:]))"
  exit 0
fi
if [ "${1:-}" = twostage ]; then  # round 4: notebook 04's two-stage training, eagerly and with the graph step, one
  # corpus (made by the first run unless /tmp/w/data exists) and one face analyser (trained once, shortened)
  mkdir -p /tmp/logs
  A="--set analyser.n_train=4000 --set analyser.n_val=500 --set analyser.epochs=4"
  first=""
  RUNS=("two_stage_eager /tmp/t1 --set nerf.train_step=eager"
        "two_stage_graph_fp16 /tmp/t2 --set nerf.train_step=graph --set nerf.train_precision=fp16"
        "two_stage_eager_fp16 /tmp/t3 --set nerf.train_step=eager --set nerf.train_precision=fp16"
        "two_stage_graph_fp32 /tmp/t4 --set nerf.train_step=graph")
  [ "${2:-}" = short ] && RUNS=("${RUNS[0]}" "${RUNS[3]}")    # twostage short: eager and graph fp32 only
  for run in "${RUNS[@]}"; do
    set -- $run; name=$1 work=$2; shift 2; mkdir -p "$work"
    if [ -d /tmp/w/data ]; then ln -sfn /tmp/w/data "$work/data"; fi
    if [ -n "$first" ]; then ln -sfn "$first/data" "$work/data"; ln -sfn "$first/analyser" "$work/analyser"; fi
    timeout 200 python3 benchmarks/nerf_speed.py --device cuda --profile gpu --work "$work" --name "$name" --two-stage \
      --results "$OUT" --skip-render $A "$@" > /tmp/logs/$name.log 2>&1; el "$name"
    first=${first:-$work}
    grep -h "^{" /tmp/logs/$name.log | cut -c1-250; grep -i "error\|Traceback" /tmp/logs/$name.log | head -n 5
    grep -ho '"graph_[a-z_]*": [0-9a-z]*' "$work/nerf_gpu/history.json" 2>/dev/null | tr '\n' ' '; echo
  done
  exit 0
fi
if [ "${1:-}" = merge2 ]; then    # after twostage: the merge ceilings again (list reads taken out) on that model's points
  mkdir -p /tmp/logs
  timeout 120 python3 benchmarks/capture_points.py --device cuda --profile gpu --trained /tmp/t1/nerf_gpu \
    --data /tmp/t1/data --out /tmp/points.npz 2>&1 | tail -n 3; el capture
  timeout 400 python3 benchmarks/hashgrid_speed.py --device cuda --no-compile --warmup 5 --repeats 30 \
    --points-file /tmp/points.npz --results "$OUT" --name hashgrid_speed_gpu_merge2 > /tmp/logs/hashgrid.log 2>&1
  el hashgrid; grep -i "error\|Traceback" /tmp/logs/hashgrid.log | head -n 5
  python3 -c "import json; d=json.load(open('$OUT/hashgrid_speed_gpu_merge2.json')); print('\n'.join(d['notes'][1:]))"
  exit 0
fi
if [ "${1:-}" = last ]; then      # a short session: graph fp32 (makes the corpus), eager, graph fp16, the profile;
  # only json files stay in $OUT (at most 8 files come back, also from a run cut short), logs go to /tmp/logs
  mkdir -p /tmp/logs
  keep() { cp "$2/nerf_gpu/history.json" "$OUT/history_$1.json" 2>/dev/null; mv "$OUT/$1.log" /tmp/logs/; }
  train train_graph /tmp/w --set nerf.train_step=graph; keep train_graph /tmp/w
  train train_eager /tmp/a1; keep train_eager /tmp/a1
  train train_graph_fp16 /tmp/a2 --set nerf.train_step=graph --set nerf.train_precision=fp16; keep train_graph_fp16 /tmp/a2
  grep -h "it/s\|dB\|Error" /tmp/logs/*.log | grep "^{\|Error" | cut -c1-250
  grep -ho '"graph_[a-z_]*": [0-9a-z]*' "$OUT"/history_*.json
  timeout 60 python3 benchmarks/train_step_profile.py --device cuda --profile gpu --trained /tmp/w/nerf_gpu \
    --data /tmp/w/data --steps 100 --name train_step_profile_gpu_packed --results "$OUT" > /tmp/logs/profile.log 2>&1
  el profile; grep "^{" /tmp/logs/profile.log | cut -c1-250
  exit 0
fi
if [ "${1:-}" = final ]; then     # issue 21, round 3: before / eager / graph (fp32, fp16, tf32), twice, then the profile
  before train_before /tmp/w
  train train_eager_1 /tmp/a1
  train train_graph_1 /tmp/a2 --set nerf.train_step=graph
  train train_graph_fp16 /tmp/a3 --set nerf.train_step=graph --set nerf.train_precision=fp16
  train train_graph_tf32 /tmp/a4 --set nerf.train_step=graph --set nerf.train_precision=tf32
  before train_before_2 /tmp/b2
  train train_eager_2 /tmp/a5
  train train_graph_2 /tmp/a6 --set nerf.train_step=graph
  timeout 200 python3 benchmarks/train_step_profile.py --device cuda --profile gpu --trained /tmp/a2/nerf_gpu \
    --data /tmp/w/data --name train_step_profile_gpu --results "$OUT" > "$OUT/profile.log" 2>&1; el profile
  for f in /tmp/a*/nerf_gpu/history.json; do d=$(basename $(dirname $(dirname $f))); cp $f "$OUT/history_$d.json"; done
  grep -h "it/s\|dB\|Error\|error\|ms\|%" "$OUT"/*.log | grep -v "^ " | grep "^{\|Error" | cut -c1-330 | tail -n 70
  tar -C "$OUT" -czf /tmp/all.tgz . && rm -rf "$OUT"/* && mv /tmp/all.tgz "$OUT/"
  exit 0
fi
if [ "${1:-}" = profile ]; then   # where a step's time goes (train_step_profile.py), then fp16 in the graph
  train train_graph_p /tmp/w --set nerf.train_step=graph
  timeout 200 python3 benchmarks/train_step_profile.py --device cuda --profile gpu --trained /tmp/w/nerf_gpu \
    --data /tmp/w/data --name train_step_profile_gpu --results "$OUT" > "$OUT/profile.log" 2>&1; el profile
  train train_graph_fp16 /tmp/a6 --set nerf.train_step=graph --set nerf.train_precision=fp16
  grep -h "it/s\|frames/s\|dB\|Error\|error\|ms\|%" "$OUT"/*.log | grep -v "^ " | cut -c1-330 | tail -n 60
  tar -C "$OUT" -czf /tmp/all.tgz . && rm -rf "$OUT"/* && mv /tmp/all.tgz "$OUT/"
  exit 0
fi
if [ "${1:-}" = graph ]; then
  before train_before /tmp/w
  train train_eager_1 /tmp/a1
  train train_graph_1 /tmp/a2 --set nerf.train_step=graph
  train train_graph_tf32 /tmp/a3 --set nerf.train_step=graph --set nerf.train_precision=tf32
  train train_eager_2 /tmp/a4
  train train_graph_2 /tmp/a5 --set nerf.train_step=graph
  timeout 150 python3 benchmarks/video_speed.py --device cuda --profile gpu --trained /tmp/a1/nerf_gpu --data /tmp/w/data \
    --quick --cold --encoder-threads 4 --seconds 20 --before-seconds 0 --name video_speed_gpu_cold \
    --results "$OUT" > "$OUT/video_cold.log" 2>&1; el video
  grep -h "it/s\|frames/s\|dB\|Error\|error" "$OUT"/*.log | grep -v "^ " | cut -c1-330 | tail -n 60
  exit 0
fi
if [ "${1:-}" = ab ]; then
  before train_before_1 /tmp/w
  train train_after_1 /tmp/a1
  before train_before_2 /tmp/b2
  train train_after_2 /tmp/a2
  train train_after_16k /tmp/a3 --set nerf.rays_per_batch=16384 --set nerf.iterations=1500 --set nerf.refine_start=1500
  timeout 170 python3 benchmarks/video_speed.py --device cuda --profile gpu --trained /tmp/a1/nerf_gpu --data /tmp/w/data \
    --quick --no-fused --encoder-threads 4 --seconds 60 --before-seconds 0 --name video_speed_gpu_defaults \
    --results "$OUT" > "$OUT/video_defaults.log" 2>&1; el video
  grep -h "it/s\|frames/s\|dB" "$OUT"/*.log | grep "^{" | cut -c1-330 | tail -n 40
  exit 0
fi
for st in density color march; do
  CUDA_LAUNCH_BLOCKING=1 timeout 90 python3 benchmarks/fused_mlp_check.py --stage $st --n 200000 > "$OUT/check_$st.log" 2>&1 || F=1
  tail -n 2 "$OUT/check_$st.log"
done
NF=""
if [ $F = 1 ]; then
  NF=--no-fused
  CS=$(ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -n 1); echo "compute-sanitizer: ${CS:-none}"
  if [ -n "$CS" ]; then
    timeout 120 "$CS" --tool memcheck --print-limit 3 python3 benchmarks/fused_mlp_check.py --stage density --n 100 \
      > "$OUT/sanitizer.log" 2>&1; tail -c 3000 "$OUT/sanitizer.log"
  fi
  for b in 16 32 128; do
    CUDA_LAUNCH_BLOCKING=1 timeout 60 python3 benchmarks/fused_mlp_check.py --stage density --n 1000 --block $b 2>&1 | tail -n 1
  done
fi
el checks
W=/tmp/w; mkdir -p /tmp/w2 /tmp/w3
if [ -d .devcarry/old ]; then
  timeout 150 env PYTHONPATH=/tmp/site:.devcarry/old python3 .devcarry/old/benchmarks/nerf_speed.py --device cuda \
    --profile gpu --work $W --name train_before --results "$OUT" > "$OUT/before.log" 2>&1; el before
fi
ln -sfn $W/data /tmp/w2/data; ln -sfn $W/data /tmp/w3/data
timeout 100 python3 benchmarks/nerf_speed.py --device cuda --profile gpu --work /tmp/w2 --name train_after_fp32 \
  --results "$OUT" --skip-render > "$OUT/fp32.log" 2>&1; el fp32
timeout 100 python3 benchmarks/nerf_speed.py --device cuda --profile gpu --work /tmp/w3 --set nerf.train_precision=tf32 \
  --name train_after_tf32 --results "$OUT" --skip-render > "$OUT/tf32.log" 2>&1; el tf32
timeout 170 python3 benchmarks/video_speed.py --device cuda --profile gpu --trained /tmp/w2/nerf_gpu --data $W/data \
  --quick $NF --encoder-threads 4 --seconds 60 --before-seconds 0 --name video_speed_gpu_fused --results "$OUT" \
  > "$OUT/video.log" 2>&1; el video
grep -h "it/s\|frames/s\|dB" "$OUT"/*.log | grep "^{" | cut -c1-330 | tail -n 40
