# shellcheck shell=bash
# slurm_lib.sh — bring up and tear down a real single-node Slurm (slurmctld,
# slurmd, munged) in a temporary directory, as root, without systemd.
# Sourced by tests/slurm_test.sh (bash). Recipe and timings:
# /work/shared/notes/slurm-single-node.md.
#
#   slurm_up DIR     writes DIR/slurm.conf, starts the daemons, exports
#                    SLURM_CONF, waits (bounded) for the node to be idle
#   slurm_down       stops what slurm_up started, by pid, in reverse order
#   slurm_wait_job ID TIMEOUT   polls until job ID leaves PENDING/RUNNING/
#                    REQUEUED...; prints the final JobState; 1 on timeout
#   slurm_job_field ID FIELD    one Key=Value field of `scontrol show job`
#
# Ports default to 16817/16818 (SLURM_TEST_CTLD_PORT, SLURM_TEST_SLURMD_PORT)
# so a test never talks to a site's own Slurm on 6817/6818. A munged that
# already answers is reused and left running.

SLURM_PIDS=""        # "name:pid" entries, in start order
SLURM_DIR=""

slurm_log() { printf '[slurm-test %s] %s\n' "$(date +%T)" "$*"; }

# Waits up to $2 seconds for pid $1 to exit.
slurm_wait_pid_gone() {
    local pid=$1 t=$(( $2 * 10 ))
    while kill -0 "$pid" 2>/dev/null && [ "$t" -gt 0 ]; do
        sleep 0.1; t=$((t - 1))
    done
    ! kill -0 "$pid" 2>/dev/null
}

slurm_up() {
    SLURM_DIR=$1
    local host node ctld_port=${SLURM_TEST_CTLD_PORT:-16817}
    local slurmd_port=${SLURM_TEST_SLURMD_PORT:-16818} t
    host=$(hostname -s)
    mkdir -p "$SLURM_DIR/state" "$SLURM_DIR/spool/slurmd" "$SLURM_DIR/log"
    node=$(slurmd -C | head -n1) || { slurm_log "slurmd -C failed"; return 1; }
    cat > "$SLURM_DIR/slurm.conf" <<CONF
ClusterName=ci
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MailProg=/bin/true
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool/slurmd
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
ReturnToService=2
MinJobAge=600
KillWait=10
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF=$SLURM_DIR/slurm.conf

    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        slurm_log "munged already running: reusing it"
    else
        install -d -o munge -g munge -m 0755 /run/munge
        if [ ! -s /etc/munge/munge.key ]; then
            mungekey --create && chown munge:munge /etc/munge/munge.key &&
                chmod 400 /etc/munge/munge.key
        fi
        runuser -u munge -- /usr/sbin/munged || { slurm_log "munged failed"; return 1; }
        t=50
        while [ ! -s /run/munge/munged.pid ] && [ $t -gt 0 ]; do sleep 0.1; t=$((t - 1)); done
        SLURM_PIDS="munged:$(cat /run/munge/munged.pid)"
        munge -n | unmunge >/dev/null || { slurm_log "munge does not work"; return 1; }
    fi
    slurmctld -D -i > "$SLURM_DIR/log/slurmctld.out" 2>&1 &
    SLURM_PIDS="$SLURM_PIDS slurmctld:$!"
    slurmd -D > "$SLURM_DIR/log/slurmd.out" 2>&1 &
    SLURM_PIDS="$SLURM_PIDS slurmd:$!"
    t=300   # 30 s
    until [ "$(sinfo -h -o %T 2>/dev/null)" = idle ]; do
        if [ $t -le 0 ]; then
            slurm_log "node not idle after 30 s: $(sinfo -h -o '%T %E' 2>&1)"
            tail -n 20 "$SLURM_DIR/log/slurmctld.log" "$SLURM_DIR/log/slurmd.log" 2>/dev/null
            return 1
        fi
        sleep 0.1; t=$((t - 1))
    done
    slurm_log "Slurm up: $(sinfo -h -o '%P %D %c %T') (conf $SLURM_CONF)"
}

slurm_down() {
    local e name pid list=""
    for e in $SLURM_PIDS; do list="$e $list"; done   # reverse order
    for e in $list; do
        name=${e%%:*}; pid=${e#*:}
        kill "$pid" 2>/dev/null || continue
        slurm_wait_pid_gone "$pid" 15 || { kill -9 "$pid" 2>/dev/null; slurm_log "$name ($pid) killed"; }
    done
    [ -n "$list" ] && slurm_log "stopped:$(printf ' %s' $list)"
    SLURM_PIDS=""
}

slurm_job_field() {
    scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1
}

slurm_wait_job() {
    local id=$1 t=$(( $2 * 5 )) st reason
    while [ "$t" -gt 0 ]; do
        st=$(slurm_job_field "$id" JobState)
        reason=$(slurm_job_field "$id" Reason)
        case "$st" in
        PENDING)
            if [ "$reason" = DependencyNeverSatisfied ]; then
                scancel "$id"; echo "DEPENDENCY_NEVER_SATISFIED"; return 1
            fi ;;
        RUNNING|REQUEUED|CONFIGURING|COMPLETING|SUSPENDED|REQUEUE_FED|REQUEUE_HOLD|RESIZING|SIGNALING|STAGE_OUT|"") ;;
        *) echo "$st"; return 0 ;;
        esac
        sleep 0.2; t=$((t - 1))
    done
    echo "TIMEOUT($st)"
    return 1
}
