# Starts and stops a throw-away SeaweedFS (`weed server -s3`: master, volume, filer and S3 gateway) on
# loopback ports, with no telemetry, keeping its data and log under a work directory. Sourced by
# scripts/test and scripts/bench-registry.
#
#   start_seaweedfs WEED WORK   sets s3_endpoint (http://127.0.0.1:PORT), writes WORK/weed.pid;
#                               returns once a bucket can be made (the gateway answers before
#                               the volumes are ready)

start_seaweedfs() {
    local weed=$1 work=$2
    local m mg v vg f fg s sg
    read -r m mg v vg f fg s sg <<<"$(python3 -c '
import socket
held = [socket.socket() for _ in range(8)]
for s in held: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in held))')"
    mkdir -p "$work/weed"
    (cd "$work/weed" && exec "$weed" server -dir="$work/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.telemetry=false -master.port="$m" -master.port.grpc="$mg" \
        -volume.port="$v" -volume.port.grpc="$vg" -volume.max=0 -master.volumeSizeLimitMB=64 \
        -filer.port="$f" -filer.port.grpc="$fg" \
        -s3 -s3.port="$s" -s3.port.grpc="$sg" -s3.port.iceberg=0 -s3.port.lance=0 >"$work/weed.log" 2>&1) &
    echo $! >"$work/weed.pid"
    s3_endpoint="http://127.0.0.1:$s"
    for _ in $(seq 1 300); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$s3_endpoint/berth-ready")" = 200 ]; then
            return 0
        fi
        sleep 0.2
    done
    tail -n 30 "$work/weed.log" >&2
    echo "SeaweedFS did not start" >&2
    return 1
}

#   stop_seaweedfs WORK         stops the one started in WORK: SIGTERM, then SIGKILL after 5 s
#                               (a weed that lost its directory does not finish shutting down)
stop_seaweedfs() {
    local pid
    [ -f "$1/weed.pid" ] || return 0
    pid=$(cat "$1/weed.pid")
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}
