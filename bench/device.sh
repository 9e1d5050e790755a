#!/bin/bash
# The benches on the 16-core device machine, one stage per core, and on 2 of its cores in the same
# sitting (BENCHMARKS.md, "Pipeline", thirty-seventh session). That machine reaches no network and
# has its own python3 (3.12, with numpy, uvloop and aiohttp but none of our other dependencies), so:
#
#   bash bench/device.sh prepare   # here: wheels for the missing packages and the Go clients, built
#                                  # static, into bench/out/device/ (ignored; about 18 MB)
#   then the device tool's run, with carry ["bench/out/device"] and the command
#   bash bench/device.sh run       # there (~140 s): logs, the pipeline's JSON and plots under $OUT
#
# `bash bench/device.sh run small` here is a 50 s dry run of the same steps with small sizes.
set -u
DIR=bench/out/device
case "${1:-}" in
prepare)
    set -e
    mkdir -p $DIR/wheels
    # the versions this box runs, for CPython 3.12 on x86-64 (what the device machine has)
    for name in faster-fifo msgspec cryptography cffi pycparser hdrhistogram pbr; do
        version=$(python3 -m pip show "$name" | sed -n 's/^Version: //p')
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
            --implementation cp --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 \
            --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            --platform manylinux1_x86_64 -d $DIR/wheels "$name==$version"
    done
    # the benches' Go clients, static (that machine's libc may differ), and a `go` that builds
    # nothing there, so bench/node.py and bench/push.py use these rather than their Python clients
    for prog in httpload wsfan; do
        (cd bench/$prog && CGO_ENABLED=0 go build -ldflags "-s -w" -o ../out/device/$prog .)
    done
    printf '#!/bin/sh\nexit 0\n' > $DIR/go && chmod +x $DIR/go
    du -sh $DIR
    ;;
run)
    export PYTHONUNBUFFERED=1
    if [ -n "${OUT:-}" ]; then  # on the device machine
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site $DIR/wheels/*.whl || exit 1
        export PYTHONPATH=/tmp/site:$PWD PATH=$PWD/$DIR:$PATH
        mkdir -p bench/out && cp $DIR/httpload $DIR/wsfan bench/out/
    else
        OUT=/tmp/spot_seda_device; mkdir -p $OUT
    fi
    if [ "${2:-}" = small ]; then O=3000 OS=2 NS=2 PS=3; else O=100000 OS=10 NS=5 PS=10; fi
    { date; nproc; python3 -V; uname -r; grep -m1 "model name" /proc/cpuinfo
      python3 -c "import faster_fifo, msgspec, uvloop, aiohttp, cryptography, hdrh, spot_seda; print('imports ok')"
    } 2>&1 | tee $OUT/0_env.txt
    step() {  # name, time limit (s), command...: its output to the terminal and to $OUT/name.txt
        local name=$1 limit=$2; shift 2
        echo "=== $name $(date +%T): $*"
        timeout -k 5 "$limit" "$@" 2>&1 | tee "$OUT/$name.txt"
        echo "=== $name exit ${PIPESTATUS[0]} $(date +%T)"
    }
    step 1_pipeline16 170 python3 bench/pipeline.py --orders $O --transports shm --rates 50 \
        --open-seconds $OS --json $OUT/pipeline16.json --plots device16
    cp bench/out/device16_timeline.png $OUT/ 2>/dev/null
    step 2_node16 110 python3 bench/node.py --seconds $NS --apis rest
    step 3_push16 70 python3 bench/push.py --clients 1000 --rate 2000 --seconds $PS
    step 4_recovery16 75 python3 bench/recovery.py --commands $O
    step 5_pipeline2 75 python3 bench/pipeline.py --orders $((O / 2)) --transports shm --rates 50 \
        --open-seconds $OS --skip-engine --cores 2 --plots ""
    date
    ;;
*)
    sed -n '2,13p' "$0"; exit 2
    ;;
esac
