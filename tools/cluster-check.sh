#!/bin/sh
# make cluster-check: a real single-node SLURM cluster on this machine.
#
# 1. installs (quietly, only what is missing) slurmctld, slurmd, munge and
#    r-cran-batchtools from Debian;
# 2. starts munged, slurmctld and slurmd directly (no systemd), as root,
#    with a generated slurm.conf, key, sockets, state and logs in a
#    temporary directory and private ports;
# 3. runs tools/cluster-check.R: spatial_profile() through
#    BiocParallel::BatchtoolsParam(cluster = "slurm") -- batchtools'
#    makeClusterFunctionsSlurm() on tools/slurm.tmpl -- and checks the result
#    is identical to SerialParam();
# 4. stops the daemons it started (by their pid files) and removes the
#    directory.
# Needs root (apt-get, daemons). The package must be installed where
# R_LIBS (or the default library) points.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
start=$(date +%s)

if [ "$(id -u)" != 0 ]; then
    echo "cluster-check: needs root (installs and starts slurm daemons)" >&2
    exit 1
fi

# ---- 1. install what is missing ----------------------------------------
missing=""
for b in slurmctld slurmd munged sbatch; do
    command -v "$b" > /dev/null 2>&1 || missing=yes
done
Rscript -e 'quit(status = !requireNamespace("batchtools", quietly = TRUE))' \
    > /dev/null 2>&1 || missing=yes
if [ -n "$missing" ]; then
    echo "cluster-check: installing slurmctld slurmd munge r-cran-batchtools"
    export DEBIAN_FRONTEND=noninteractive
    apt_install() {
        apt-get install -y -qq --no-install-recommends slurmctld slurmd \
            slurm-client munge r-cran-batchtools > /dev/null 2>&1
    }
    apt_install || { apt-get update -qq > /dev/null 2>&1 && apt_install; }
fi

# ---- 2. configuration and daemons --------------------------------------
work=$(mktemp -d /tmp/immunoscape-slurm.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/state" "$work/spool" "$work/munge"
chmod 700 "$work/munge"
host=$(hostname -s)
ncpu=$(nproc)
port=${SLURM_CHECK_PORT:-16817}

# stop one daemon by its pid file and wait (up to 10 s) until it is gone
stop_pid() {
    [ -s "$1" ] || return 0
    pid=$(cat "$1")
    kill "$pid" 2> /dev/null || return 0
    n=0
    while kill -0 "$pid" 2> /dev/null && [ $n -lt 100 ]; do
        sleep 0.1
        n=$((n + 1))
    done
}
stop_all() {
    stop_pid "$work/slurmd.pid"
    stop_pid "$work/slurmctld.pid"
    stop_pid "$work/munge/munged.pid"
    if [ -n "$KEEP_SLURM_DIR" ]; then
        echo "cluster-check: logs kept in $work"
    else
        rm -rf "$work"
    fi
}
trap stop_all EXIT
trap 'exit 1' INT TERM

dd if=/dev/urandom bs=1 count=1024 of="$work/munge/munge.key" 2> /dev/null
chmod 400 "$work/munge/munge.key"
munged --force --key-file="$work/munge/munge.key" \
    --socket="$work/munge/munge.socket" \
    --pid-file="$work/munge/munged.pid" \
    --log-file="$work/munge/munged.log" \
    --seed-file="$work/munge/munged.seed"

cat > "$work/slurm.conf" <<CONF
ClusterName=immunoscape
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdTimeout=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$ncpu State=UNKNOWN
PartitionName=check Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"

slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"

# wait until the node is idle
i=0
until sinfo -h -o "%t" 2> /dev/null | grep -q "idle"; do
    i=$((i + 1))
    if [ $i -gt 60 ]; then
        echo "cluster-check: the SLURM node did not come up" >&2
        sinfo 2>&1 || true
        tail -20 "$work/slurmctld.log" "$work/slurmd.log" >&2 || true
        exit 1
    fi
    sleep 1
done
up=$(date +%s)
echo "cluster-check: single-node SLURM up ($host, $ncpu CPUs) in $((up - start)) s"

# ---- 3. the check --------------------------------------------------------
Rscript "$top/tools/cluster-check.R" "$work" "$top/tools/slurm.tmpl"
end=$(date +%s)
echo "cluster-check: passed in $((end - start)) s in total"
