# xen_tests.sh - the tests of make check-xen, sourced by tests/vm/xen-dom0.sh in Dom0
# once the DomUs are up (bash; uses its cmd/wait_done/run_on/result/say and settings).
# Each writes one harness record with backend "xen" (tests/vm/records.list declares
# them; docs/XEN.md, "Recipe", says what each shows):
#   ERR03-xen     every DomU sends requests at once, at different priorities, with
#                 payloads both ways over Xen's network: each answered exactly once, to
#                 its VM, with the output Dom0's own run of it gives; naive: one shared
#                 command file written in place by every DomU, read by mtime polling
#   ERR09-xen     the errors log's own priority test: low, medium, high from three
#                 DomUs while the executor is busy run high, medium, low; naive: the
#                 naive queue (tests/fault/naive/naive_pqueue.c) fed the same arrivals
#   ISOMOUNT-xen  a DomU mounting another VM's export is refused (one export per VM,
#                 restricted to its address); naive: one export for the whole subnet
#   ISOWRITE-xen  a DomU cannot write another VM's directory through its own mount
#                 (.. traversal, a symlink for the mediator to follow); what it writes is
#                 owned by its own squashed uid; naive: the shared export lets it
# shellcheck shell=bash disable=SC2154
TOOL=$here/xen_tool.py
NREQ=${VGPU_XEN_REQUESTS:-4}      # requests per DomU (ERR03)
NW=${VGPU_XEN_NAIVE_WRITES:-20}   # naive writes per DomU (ERR03)
SPIN=${VGPU_XEN_SPIN_MS:-90000}   # the busy job of ERR09 (ended early: its worker is killed)
CL="vgpu-client --lock-dir /tmp"

rec_begin() {
	R_ID=$1 R_TITLE=$2 R_REPRO=1 R_HANDLED=1 R_INJ=0 R_EVID= R_SKIP=
	R_SUBMITTED=0 R_ANSWERED=0 R_LOST=0 R_DUPLICATED=0 R_MISROUTED=0 R_CORRUPTED=0
	say "$R_ID [xen]: $R_TITLE [$(up) s]"
}
naive() {  # naive STATUS MSG: STATUS 0 = the naive control showed the symptom
	if [ "$1" = 0 ]; then say "  naive ok: $2"; else R_REPRO=0; say "  naive FAIL (fault not reproduced): $2"; fi
}
check() {  # check STATUS MSG
	if [ "$1" = 0 ]; then say "  ok: $2"; else R_HANDLED=0; say "  FAIL: $2"; fi
}
evid() { R_EVID="${R_EVID:+$R_EVID; }$*"; }
rec_finish() {
	export R_ID R_TITLE R_REPRO R_HANDLED R_INJ R_EVID R_SKIP R_SUBMITTED R_ANSWERED R_LOST R_DUPLICATED \
		R_MISROUTED R_CORRUPTED
	python3 "$TOOL" record "$VGPU_OUT/scenarios"
	result "$R_ID-xen: reproduced $R_REPRO, handled $R_HANDLED, injections $R_INJ, requests $R_SUBMITTED/$R_ANSWERED answered, lost $R_LOST, duplicated $R_DUPLICATED, misrouted $R_MISROUTED, corrupted $R_CORRUPTED" $?
}
# a request whose outcome counts: ping from DomU N, through its own mount
count_ping() {  # count_ping N
	R_SUBMITTED=$((R_SUBMITTED + 1))
	if run_on "$1" 90 "$CL --dir /mnt/vgpu/vm$1 --timeout 60 ping" && [ "$DRC" = 0 ]; then
		R_ANSWERED=$((R_ANSWERED + 1)); return 0
	fi
	R_LOST=$((R_LOST + 1)); say "  vm$1 ping: rc=${DRC:-none} $OUTPUT"; return 1
}
J0=0
jmark() { J0=$(wc -l < "$JOURNAL"); }
jlines() { tail -n +"$((J0 + 1))" "$JOURNAL"; }
jwait() {  # jwait REGEX COUNT SECONDS: journal lines since jmark
	local end=$(( $(date +%s) + $3 ))
	while [ "$(jlines | grep -cE "$1")" -lt "$2" ]; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.1
	done
}
DOMS=$(seq 1 "$NDOMU")

# ---- ERR03-xen ---------------------------------------------------------------------------
rec_begin ERR03 "concurrent writers: DomUs on Xen's network send requests at once (one shared command file vs one directory per VM)"
mkdir -p "$NAIVE/shared"; chown 65534:65534 "$NAIVE/shared"
: > "$NAIVE/shared/command.txt"; chown 65534:65534 "$NAIVE/shared/command.txt"; chmod 0666 "$NAIVE/shared/command.txt"
rm -f /tmp/naive.stop
python3 "$TOOL" naive-reader "$NAIVE/shared/command.txt" /tmp/naive.stop /tmp/naive.read &
rp=$!
declare -A KS
for n in $DOMS; do
	cmd "$n" "mkdir -p /mnt/naive" \
		"mount -t nfs -o vers=3,nolock,hard $DOM0_IP:$NAIVE /mnt/naive || exit 9" \
		"for s in \$(seq 1 $NW); do echo \"vm $n seq \$s op ping\" > /mnt/naive/shared/command.txt || exit 1; done"
	KS[$n]=$K
done
wrc=0
for n in $DOMS; do wait_done "$n" "${KS[$n]}" 120 && [ "$DRC" = 0 ] || { wrc=1; say "  naive writer domu$n: rc=${DRC:-none} $OUTPUT"; }; done
touch /tmp/naive.stop; wait $rp
read -r written seen torn < <(python3 "$TOOL" naive-count /tmp/naive.read "$NDOMU" "$NW")
: "${written:=0}" "${seen:=0}" "${torn:=0}"
[ $wrc = 0 ] && [ "$seen" -lt "$written" ]
naive $? "one shared command.txt written in place by $NDOMU DomUs ($written records): the errors log's reader (mtime, 1 s) saw $seen, lost $((written - seen)), $torn torn lines"
evid "naive: $NDOMU DomUs wrote $written records in place into one shared command.txt; a reader polling its mtime saw $seen ($((written - seen)) lost, $torn torn)"

python3 "$TOOL" inputs "$CTL/in" "$NDOMU" "$NREQ"; chmod -R a+rX "$CTL/in"
# Dom0's own run of every request (the reference: same mediator, a local directory)
: > /tmp/refs
while read -r vm i prio op args; do
	# shellcheck disable=SC2086
	T 120 "$B/vgpu-client" --lock-dir /tmp --dir "$ROOT/vm9" --timeout 90 --in "$CTL/in/${vm}_$i.bin" \
		--out /tmp/ref.out "$op" $args >/dev/null && echo "$vm $i $(sha256sum < /tmp/ref.out | cut -c1-64)" >> /tmp/refs
done < "$CTL/in/plan"
say "  Dom0's own run of the $(wc -l < "$CTL/in/plan") planned requests: $(wc -l < /tmp/refs) outputs [$(up) s]"
for n in $DOMS; do
	lines=()
	while read -r vm i prio op args; do
		[ "$vm" = "$n" ] || continue
		lines+=("out=\$($CL --dir /mnt/vgpu/vm$n --timeout 120 --priority $prio --in /ctl/in/${vm}_$i.bin --out /tmp/o$i $op $args 2>&1); echo \"REQ $i rc=\$? \$out\"" \
			"echo \"SHA $i \$(sha256sum < /tmp/o$i | cut -c1-64)\"")
	done < "$CTL/in/plan"
	cmd "$n" "${lines[@]}"; KS[$n]=$K
done
for n in $DOMS; do
	wait_done "$n" "${KS[$n]}" 300 || say "  domu$n: no report of its requests within 300 s"
	printf '%s\n' "$OUTPUT" > "/tmp/err03-vm$n.out"
done
acc=$(python3 "$TOOL" account "$JOURNAL" "$CTL/in/plan" /tmp/refs /tmp/err03-vm*.out)
read -r R_SUBMITTED R_ANSWERED R_LOST R_DUPLICATED R_MISROUTED R_CORRUPTED overlap <<<"$(echo "$acc" | head -1)"
echo "$acc" | tail -n +2 | while read -r l; do say "  $l"; done
R_INJ=$overlap
[ "$R_ANSWERED" = "$R_SUBMITTED" ] && [ "$R_SUBMITTED" -gt 0 ]
check $? "$NDOMU DomUs x $NREQ requests (vadd/saxpy/sgemm, payloads both ways): $R_ANSWERED of $R_SUBMITTED answered OK, each exactly once, to its VM, output equal to Dom0's own run"
[ "$overlap" -gt 0 ]
check $? "the DomUs sent at once: $overlap requests arrived in the middle of another VM's series (journal)"
capbad=$(grep -E '^queue vm=3 .*prio=(medium|high)|^queue vm=2 .*prio=high' "$JOURNAL" | wc -l)
[ "$capbad" = 0 ]
check $? "priority caps held over Xen: vm3 (low) and vm2 (medium) never queued above their cap ($capbad lines)"
evid "ours: one directory per VM: $R_ANSWERED of $R_SUBMITTED requests of $NDOMU DomUs answered exactly once, output checked against Dom0's own run, $overlap arrived in the middle of another VM's series; caps held"
rec_finish

# ---- ERR09-xen ---------------------------------------------------------------------------
rec_begin ERR09 "priority: low, medium, high from three DomUs while the GPU is busy (the errors log's own test)"
if [ "$NDOMU" -lt 3 ]; then
	R_SKIP="needs 3 DomUs (VGPU_XEN_DOMUS=$NDOMU)"; rec_finish
else
	jmark
	"$B/vgpu-client" --lock-dir /tmp --dir "$ROOT/vm9" --timeout 120 --priority high spin "$SPIN" > /tmp/busy.out 2>&1 &
	bp=$!
	jwait '^exec vm=9 ' 1 30; rc=$?
	declare -A KP
	for vp in 3:low 2:medium 1:high; do
		v=${vp%:*} p=${vp#*:}
		[ $rc = 0 ] || break
		cmd "$v" "$CL --dir /mnt/vgpu/vm$v --timeout 120 --priority $p vadd 1024 --seed $v"; KP[$v]=$K
		jwait "^queue vm=$v " 1 60; rc=$?
	done
	busy_done_before=$(jlines | grep -nE '^answer vm=9 ' | head -1 | cut -d: -f1)
	last_queued=$(jlines | grep -nE '^queue vm=1 ' | head -1 | cut -d: -f1)
	[ $rc = 0 ] && { [ -z "$busy_done_before" ] || [ "${last_queued:-999999}" -lt "$busy_done_before" ]; }
	queued_while_busy=$?
	# The busy job ends when all three wait, however slow this machine is: its worker
	# (the mediator's child) is killed; the watchdog answers vm9 EXEC_FAILED and starts
	# a new worker, which then takes the queue in priority order.
	wpid=$(pgrep -P "$MPID" -x vgpu-worker | head -1)
	[ -n "$wpid" ] && kill -KILL "$wpid"
	wait $bp; brc=$?
	R_SUBMITTED=4
	# answered: OK, or the error status of a job whose worker died (client exit 1)
	case $brc in 0|1) R_ANSWERED=$((R_ANSWERED + 1)) ;; *) R_LOST=$((R_LOST + 1)) ;; esac
	say "  vm9's busy job ended by killing its worker (pid ${wpid:-none}): $(head -1 /tmp/busy.out | cut -c1-120)"
	for v in 1 2 3; do
		if [ -n "${KP[$v]:-}" ] && wait_done "$v" "${KP[$v]}" 120 && [ "$DRC" = 0 ]; then
			R_ANSWERED=$((R_ANSWERED + 1))
		else
			R_LOST=$((R_LOST + 1)); say "  vm$v: rc=${DRC:-none} $OUTPUT"
		fi
	done
	R_DUPLICATED=$(jlines | grep -E '^answer ' | awk '{ print $2, $3 }' | sort | uniq -d | wc -l)
	order=$(jlines | sed -n 's/^exec vm=\([0-9]*\) .*/\1/p' | tr '\n' ' ' | sed 's/ $//')
	arrivals=$(jlines | grep -E '^queue vm=[123] ' | sed -n 's/.* prio=\([a-z]*\).*/\1/p' | tr '\n' ' ' | sed 's/ $//')
	check $queued_while_busy "vm3 (low), vm2 (medium), vm1 (high) queued in that order while vm9's spin held the executor (arrivals: $arrivals)"
	[ $queued_while_busy = 0 ] && R_INJ=3
	# shellcheck disable=SC2086
	nv=$("$B/tests/vm/xen_naive_pq" inverted $arrivals)
	[ "$arrivals" = "low medium high" ] && [ "$nv" != "high medium low" ]
	naive $? "the naive queue (comparison inverted) fed the same arrivals serves: $nv"
	[ "$order" = "9 1 2 3" ]
	check $? "exec order in the mediator's journal: vm$(echo "$order" | sed 's/ / vm/g') (expected vm9 (busy), vm1 high, vm2 medium, vm3 low)"
	evid "naive: the inverted queue, fed the arrivals $arrivals, serves $nv"
	evid "ours: exec order vm$(echo "$order" | sed 's/ / vm/g') across three DomUs on Xen's network (vm9: Dom0's busy job)"
	rec_finish
fi

# ---- ISOMOUNT-xen ------------------------------------------------------------------------
rec_begin ISOMOUNT "isolation: a DomU mounts another VM's directory (one export per VM, restricted to its address)"
MO="vers=3,nolock,soft,timeo=20,retrans=2"
run_on 2 90 "mkdir -p /mnt/x" "mount -t nfs -o $MO $DOM0_IP:$NAIVE/vm1 /mnt/x && echo MOUNTED && umount /mnt/x"
echo "$OUTPUT" | grep -q MOUNTED
naive $? "one export for the whole subnet (root_squash): domu2 mounted $DOM0_IP:$NAIVE/vm1, vm1's directory"
evid "naive: with one export for the subnet domu2 mounted vm1's directory"
tries=0 refused=0
for n in $DOMS; do
	lines=()
	for m in $DOMS; do
		[ "$m" = "$n" ] && continue
		lines+=("mkdir -p /mnt/o$m" "if mount -t nfs -o $MO $DOM0_IP:$ROOT/vm$m /mnt/o$m 2>/tmp/e$m; then echo \"TRY $m MOUNTED\"; umount /mnt/o$m; else echo \"TRY $m refused: \$(cat /tmp/e$m)\"; fi")
	done
	cmd "$n" "${lines[@]}"; KS[$n]=$K
done
for n in $DOMS; do
	wait_done "$n" "${KS[$n]}" 120 || say "  domu$n: no report within 120 s"
	while read -r l; do
		case $l in
		"TRY "*" refused: "*) tries=$((tries + 1)); refused=$((refused + 1)) ;;
		"TRY "*) tries=$((tries + 1)); say "  domu$n: $l" ;;
		esac
	done <<<"$OUTPUT"
	[ "$n" = 2 ] && ex=$(echo "$OUTPUT" | grep -m1 '^TRY 1 ' | cut -c1-160)
done
R_INJ=$refused
[ "$tries" = $((NDOMU * (NDOMU - 1))) ] && [ "$refused" = "$tries" ]
check $? "each DomU's mount of every other VM's export refused by the server: $refused of $tries (domu2: ${ex:-?})"
pok=0; for n in $DOMS; do count_ping "$n" || pok=1; done
check $pok "each DomU still reaches the mediator through its own export"
evid "ours: one export per VM, restricted to its DomU's address: $refused of $tries cross-VM mounts refused (${ex:-?}); every DomU's own requests still answered"
rec_finish

# ---- ISOWRITE-xen ------------------------------------------------------------------------
rec_begin ISOWRITE "isolation: a DomU writes into another VM's directory"
run_on 2 60 "echo 'vm 1 seq 99 op ping' > /mnt/naive/vm1/command.txt && echo WROTE"
[ -f "$NAIVE/vm1/command.txt" ] && echo "$OUTPUT" | grep -q WROTE
naive $? "through the one shared export domu2 wrote vm1/command.txt (owner on the server: $(stat -c %u "$NAIVE/vm1/command.txt" 2>&1), vm1's own root is squashed to the same uid)"
evid "naive: through the shared export domu2 wrote vm1/command.txt as the same squashed uid as vm1's root"
v1() { stat -c '%n %i %s %Y' "$ROOT/vm1/command.txt" 2>&1; }   # vm1's own last request
before=$(v1)
jmark
run_on 2 90 "echo 'vm 1 seq 99 op ping' > /mnt/vgpu/vm2/../vm1/command.txt && echo ESCAPED || echo 'TRAVERSE refused'" \
	"rm -f /mnt/vgpu/vm2/command.txt; ln -s $ROOT/vm1/command.txt /mnt/vgpu/vm2/command.txt && echo SYMLINKED" \
	"touch /mnt/vgpu/vm2/owned-probe && echo PROBED"
out2=$OUTPUT
echo "$out2" | grep -q 'TRAVERSE refused' && ! echo "$out2" | grep -q ESCAPED
check $? "'..' from domu2's mount root does not reach vm1 (the export is vm2 itself)"
echo "$out2" | grep -q SYMLINKED && jwait '^answer vm=2 seq=0 .*status=BAD_FILE' 1 30
check $? "domu2's vm2/command.txt -> $ROOT/vm1/command.txt: the mediator did not follow it (answered vm2 BAD_FILE, $(grep -m1 'symbolic link' "$MLOG" | cut -c1-100))"
R_INJ=$((R_INJ + 2))
after=$(v1)
theirs=$(find "$ROOT/vm1" -uid "$(vm_uid 2)" | wc -l)
[ "$before" = "$after" ] && [ "$theirs" = 0 ]
check $? "vm1 on the server untouched by domu2: its command.txt unchanged ($after), $theirs files of uid $(vm_uid 2)"
o=$(stat -c %u:%g "$ROOT/vm2/owned-probe" 2>&1)
[ "$o" = "$(vm_uid 2):$(vm_uid 2)" ]
check $? "what domu2 writes is owned by its own squashed uid on the server: $o (vm1's directory: $(stat -c '%u %a' "$ROOT/vm1"))"
w=$(setpriv --reuid "$(vm_uid 2)" --regid "$(vm_uid 2)" --clear-groups touch "$ROOT/vm1/x" 2>&1)
[ $? != 0 ] && R_INJ=$((R_INJ + 1))
[ ! -e "$ROOT/vm1/x" ]
check $? "vm2's uid cannot write vm1/ (0700, uid $(vm_uid 1)) even on the server: ${w:-written!}"
run_on 2 60 "rm -f /mnt/vgpu/vm2/command.txt /mnt/vgpu/vm2/owned-probe"
pok=0; count_ping 1 || pok=1; count_ping 2 || pok=1
check $pok "vm1 and vm2 answered afterwards"
evid "ours: one export per VM, all_squash to the VM's own uid: '..' stays in vm2, a symlink into vm1 answered BAD_FILE, vm1 unchanged, domu2's files owned by uid $(vm_uid 2)"
rec_finish
