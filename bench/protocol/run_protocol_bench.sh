#!/usr/bin/env bash
# Protocol benchmark: modeld's NDJSON protocol against Redis on the same machine, same run.
#
#   bench/protocol/run_protocol_bench.sh BUILD_DIR
#
# Starts BUILD_DIR/runtime/modeld on a free port (four 1 GiB CPU devices, empty model root,
# throwaway data dir) and redis-server on a free port (no persistence), then measures:
#   redis   redis-benchmark -c 50 -t ping            (PING_INLINE and PING_MBULK; the faster is the baseline)
#   redis   redis-benchmark -c 50 -t ping_mbulk -P 16 (baseline of the pipelined row)
#   modeld  protocol_load ping              50 connections, unpipelined
#   modeld  protocol_load get_model_status  50 connections, unpipelined
#   modeld  protocol_load ping              50 connections, pipeline 16
# and prints req/s, p50, p99, p99.9, the ratio modeld/redis and whether the targets hold:
#   ping >= 0.6x Redis, get_model_status >= 0.3x Redis, p99 < 2 ms (the unpipelined rows).
#
# Exit status: 0 all targets held; 1 a target missed or protocol_load saw errors; 2 setup failed.
# Environment knobs: MODELD (server binary), PROTOCOL_LOAD (generator binary), DURATION (5 s),
# WARMUP (1 s), CONNECTIONS (50), PIPELINE (16), REDIS_REQUESTS (500000), THREADS (1, generator).
set -u -o pipefail

if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
BUILD_DIR=$(cd "$1" 2>/dev/null && pwd) || { echo "run_protocol_bench: no such build dir: $1" >&2; exit 2; }
MODELD=${MODELD:-$BUILD_DIR/runtime/modeld}
PROTOCOL_LOAD=${PROTOCOL_LOAD:-$BUILD_DIR/bench/protocol/protocol_load}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-50}
PIPELINE=${PIPELINE:-16}
REDIS_REQUESTS=${REDIS_REQUESTS:-500000}
THREADS=${THREADS:-1}

for bin in "$MODELD" "$PROTOCOL_LOAD"; do
  [[ -x "$bin" ]] || { echo "run_protocol_bench: not built: $bin" >&2; exit 2; }
done
for tool in redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "run_protocol_bench: $tool not installed" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/modeld-protocol-bench.XXXXXX")
MODELD_PID=""
REDIS_PID=""

STOP_STATUS=""
stop_pid() {  # stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL; exit status in STOP_STATUS
  local pid=$1 i
  if kill -TERM "$pid" 2>/dev/null; then
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      STOP_STATUS="killed after 10 s"
      return
    fi
  fi
  wait "$pid" 2>/dev/null
  STOP_STATUS=$?
}

cleanup() {
  trap - EXIT INT TERM
  [[ -n "$MODELD_PID" ]] && stop_pid "$MODELD_PID"
  [[ -n "$REDIS_PID" ]] && stop_pid "$REDIS_PID"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    echo $((20000 + RANDOM % 40000))
  fi
}

# --- modeld -------------------------------------------------------------------------------
mkdir -p "$WORK/data" "$WORK/models"
# Real model files, so the metadata rows read and write real catalog entries.
python3 "$(dirname "$0")/../../scripts/make_demo_models.py" "$WORK/models" >/dev/null
METADATA_MODEL=checkpoints/demo-sd15.safetensors
: >"$WORK/modeld.out"  # exists before the background job opens it, so the poll below can read it
"$MODELD" --listen 127.0.0.1:0 --data-dir "$WORK/data" --model-root "$WORK/models" \
  --devices cpu:0=1GiB,cpu:1=1GiB,cpu:2=1GiB,cpu:3=1GiB >"$WORK/modeld.out" 2>"$WORK/modeld.err" &
MODELD_PID=$!
MODELD_PORT=""
for ((i = 0; i < 300; i++)); do
  MODELD_PORT=$(sed -n 's/^.*listening on .*:\([0-9][0-9]*\)[[:space:]]*$/\1/p' "$WORK/modeld.out" | head -n1)
  [[ -n "$MODELD_PORT" ]] && break
  kill -0 "$MODELD_PID" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$MODELD_PORT" ]]; then
  if kill -0 "$MODELD_PID" 2>/dev/null; then
    echo "run_protocol_bench: modeld did not print 'listening on HOST:PORT' within 30 s" >&2
  else
    wait "$MODELD_PID"
    echo "run_protocol_bench: modeld exited with status $? before printing 'listening on HOST:PORT'" >&2
    MODELD_PID=""
  fi
  echo "--- modeld stdout" >&2; tail -n 20 "$WORK/modeld.out" >&2
  echo "--- modeld stderr" >&2; tail -n 20 "$WORK/modeld.err" >&2
  exit 2
fi

# --- redis --------------------------------------------------------------------------------
REDIS_PORT=""
for ((attempt = 0; attempt < 5; attempt++)); do
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --loglevel warning >"$WORK/redis.log" 2>&1 &
  REDIS_PID=$!
  for ((i = 0; i < 50; i++)); do
    if [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]]; then
      REDIS_PORT=$port
      break
    fi
    kill -0 "$REDIS_PID" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "$REDIS_PORT" ]] && break
  stop_pid "$REDIS_PID"
  REDIS_PID=""
done
if [[ -z "$REDIS_PORT" ]]; then
  echo "run_protocol_bench: redis-server did not start" >&2
  cat "$WORK/redis.log" >&2
  exit 2
fi

echo "# modeld 127.0.0.1:$MODELD_PORT, redis 127.0.0.1:$REDIS_PORT, $(nproc) CPU(s), $CONNECTIONS connections," \
  "protocol_load ${WARMUP}s warmup + ${DURATION}s, $THREADS client thread(s)"

# --- measurements ---------------------------------------------------------------------------
status=0

# redis_bench ARGS... -> "rps p50 p99" of the fastest test in the CSV (or nothing).
redis_bench() {
  local csv
  csv=$(timeout 120 redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$CONNECTIONS" "$@" --csv 2>"$WORK/rb.err")
  echo "$csv" >>"$WORK/redis-benchmark.csv"
  echo "$csv" | awk -F, 'NR > 1 { gsub(/"/, ""); if ($2 + 0 > best) { best = $2 + 0; line = $2 " " $5 " " $7 } }
                          END { if (line != "") print line }'
}

# load CMD PIPELINE -> protocol_load's summary line (stderr kept in $WORK/load.err).
load() {
  local line rc limit
  limit=$(awk -v w="$WARMUP" -v d="$DURATION" 'BEGIN { printf "%d", w + d + 30 }')
  line=$(timeout "$limit" "$PROTOCOL_LOAD" --host 127.0.0.1 --port "$MODELD_PORT" \
    --connections "$CONNECTIONS" --pipeline "$2" --duration "$DURATION" --warmup "$WARMUP" \
    --threads "$THREADS" --command "$1" --data "${3:-{\}}" 2>>"$WORK/load.err")
  rc=$?
  if [[ $rc -ne 0 ]]; then
    # (runs in a command substitution: the failure shows in the table through errors=/no line)
    echo "run_protocol_bench: protocol_load $1 pipeline=$2 failed (exit $rc)" >&2
    tail -n 8 "$WORK/load.err" >&2
  fi
  : >"$WORK/load.err"
  echo "$line"
}

field() {  # field LINE KEY
  sed -n "s/^\(.* \)\{0,1\}$2=\([^ ]*\).*$/\2/p" <<<"$1"
}

read -r R1_RPS R1_P50 R1_P99 < <(redis_bench -n "$REDIS_REQUESTS" -t ping)
read -r RP_RPS RP_P50 RP_P99 < <(redis_bench -n $((REDIS_REQUESTS * 4)) -P "$PIPELINE" -t ping_mbulk)
if [[ -z "${R1_RPS:-}" || -z "${RP_RPS:-}" ]]; then
  echo "run_protocol_bench: redis-benchmark gave no figures" >&2
  cat "$WORK/rb.err" >&2
  exit 2
fi

read -r RG_RPS RG_P50 RG_P99 < <(redis_bench -n "$REDIS_REQUESTS" -t get)
read -r RS_RPS RS_P50 RS_P99 < <(redis_bench -n "$REDIS_REQUESTS" -t set)

L_PING=$(load ping 1)
L_GET_META=$(load get_model_metadata 1 "{\"model_id\":\"$METADATA_MODEL\"}")
L_PUT_META=$(load put_model_metadata 1 "{\"model_id\":\"$METADATA_MODEL\",\"metadata\":{\"description\":\"bench\",\"tags\":[\"bench\"]}}")
L_STATUS=$(load get_model_status 1)
L_PIPE=$(load ping "$PIPELINE")

# --- report -------------------------------------------------------------------------------
# row NAME SUMMARY_LINE REDIS_RPS MIN_RATIO(or -) CHECK_P99(yes/no)
row() {
  local name=$1 line=$2 base=$3 min=$4 check_p99=$5
  local rps p50 p99 p999 errs
  rps=$(field "$line" req_per_s); p50=$(field "$line" p50_ms); p99=$(field "$line" p99_ms)
  p999=$(field "$line" p999_ms); errs=$(field "$line" errors)
  awk -v name="$name" -v rps="${rps:-0}" -v p50="${p50:--}" -v p99="${p99:--}" -v p999="${p999:--}" \
      -v errs="${errs:-?}" -v base="$base" -v min="$min" -v chk="$check_p99" '
    BEGIN {
      ratio = base > 0 ? rps / base : 0
      verdict = ""; ok = 1
      if (rps <= 0 || errs != "0") { ok = 0; verdict = verdict " errors=" errs }
      if (min != "-") { if (ratio < min) { ok = 0; verdict = verdict sprintf(" ratio<%.1f", min) } }
      if (chk == "yes" && (p99 == "-" || p99 + 0 >= 2.0)) { ok = 0; verdict = verdict " p99>=2ms" }
      target = ok ? ((min == "-" && chk == "no") ? "(info)" : "PASS") : "FAIL" verdict
      printf "%-32s %12.0f %9s %9s %9s %12.0f %7.2fx  %s\n", name, rps, p50, p99, p999, base, ratio, target
      exit ok ? 0 : 1
    }'
}

echo
printf "%-32s %12s %9s %9s %9s %12s %8s  %s\n" "run" "req/s" "p50_ms" "p99_ms" "p99.9_ms" "redis_req/s" "ratio" "target"
printf "%-32s %12.0f %9s %9s %9s %12s %8s  %s\n" "redis PING c=$CONNECTIONS" "$R1_RPS" "$R1_P50" "$R1_P99" "-" "-" "-" "(baseline)"
printf "%-32s %12.0f %9s %9s %9s %12s %8s  %s\n" "redis PING c=$CONNECTIONS P=$PIPELINE" "$RP_RPS" "$RP_P50" "$RP_P99" "-" "-" "-" "(baseline)"
row "modeld ping c=$CONNECTIONS" "$L_PING" "$R1_RPS" 0.6 yes || status=1
row "modeld get_model_status c=$CONNECTIONS" "$L_STATUS" "$R1_RPS" 0.3 yes || status=1
row "modeld ping c=$CONNECTIONS pipeline=$PIPELINE" "$L_PIPE" "$RP_RPS" - no || status=1
printf "%-32s %12.0f %9s %9s %9s %12s %8s  %s\n" "redis GET c=$CONNECTIONS" "$RG_RPS" "$RG_P50" "$RG_P99" "-" "-" "-" "(baseline)"
printf "%-32s %12.0f %9s %9s %9s %12s %8s  %s\n" "redis SET c=$CONNECTIONS" "$RS_RPS" "$RS_P50" "$RS_P99" "-" "-" "-" "(baseline, no fsync)"
row "modeld get_model_metadata" "$L_GET_META" "$RG_RPS" - no || status=1
row "modeld put_model_metadata" "$L_PUT_META" "$RS_RPS" - no || status=1
echo
echo "# targets: modeld ping >= 0.6x redis PING, get_model_status >= 0.3x redis PING, p99 < 2 ms (unpipelined rows);"
echo "# the pipelined row is compared with redis-benchmark -P $PIPELINE and carries no target."
echo "# metadata rows: get vs redis GET, put (durable: group-committed, fsync'd SQLite transactions) vs redis SET (memory only)."
echo "# protocol_load lines:"
for l in "$L_PING" "$L_STATUS" "$L_PIPE" "$L_GET_META" "$L_PUT_META"; do echo "#   ${l:-(none)}"; done

stop_pid "$MODELD_PID"
MODELD_PID=""
echo "# modeld exit status after SIGTERM: $STOP_STATUS"
[[ "$STOP_STATUS" == 0 ]] || echo "run_protocol_bench: modeld did not exit 0 on SIGTERM" >&2
if [[ $status -eq 0 ]]; then echo "# all targets held"; else echo "# some target missed or a run failed"; fi
exit $status
