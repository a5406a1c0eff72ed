#!/bin/bash
# fidelity.sh - what the Linux NFS client really does, for the points that nfssim
# simulates (docs/NFSSIM.md, "Fidelity"). Runs in the guest (tests/vm/guest.sh), as
# root, with knfsd exporting EXPORT (root_squash; EXPORT/pub owned by 65534).
#   fidelity.sh NAME VERSION-OPTS SERVER-PATH EXPORT
# Each probe mounts SERVER-PATH again with its own options (nosharecache: its own
# caches), acts on the server side (EXPORT/pub/...) and through the mount, and prints
# "NAME PROBE: what was seen". Where nfssim models the behaviour (attribute cache,
# negative lookups, close-to-open write-back, squashed owner, stale mmap pages, no torn
# record when publishing by rename) the kernel's behaviour is checked ("FIDELITY FAIL"
# and exit 1 if it differs: then nfssim's model is wrong for this kernel); the rest is
# measured and printed (partial sizes seen by a server-side poller, ESTALE counts).
set -u
name=$1 vers=$2 spath=$3 export=$4
B=${VGPU_BUILD:?}
PROBE=$B/nfssim-probe POLL=$B/tests/vm/knfs-poll
S=$export/pub/fid-$name            # server side
mkdir -p "$S"; chown 65534:65534 "$S"
: > /tmp/fid-mounts
mnt() {  # mnt TAG OPTS -> client-side path of S
	local m=/mnt/fid-$name-$1
	mkdir -p "$m"
	timeout 60 mount -t nfs -o "$vers,nosharecache,$2" "127.0.0.1:$spath" "$m" || { echo "mount $2 failed"; exit 1; }
	echo "$m" >> /tmp/fid-mounts
	if [ "$spath" = / ]; then echo "$m/pub/fid-$name"; else echo "$m${export#"$spath"}/pub/fid-$name"; fi
}
cleanup() { while read -r m; do timeout 30 umount "$m" || timeout 30 umount -l "$m"; done < /tmp/fid-mounts; }
trap cleanup EXIT
say() { echo "$name $*"; }
bad=0
want() {  # want WHAT GOT EXPECTED
	if [ "$2" = "$3" ]; then echo "$name   ok: $1 = '$2' (as nfssim models)"
	else echo "$name   FIDELITY FAIL: $1: kernel '$2', nfssim models '$3'"; bad=1; fi
}

# 1. attribute cache: stat after a server-side append; open revalidates
printf hello > "$S/a"; chown 65534 "$S/a"
m=$(mnt ac actimeo=30) || exit 1
s1=$($PROBE size "$m/a"); printf ' world' >> "$S/a"
s2=$($PROBE size "$m/a"); r=$($PROBE read "$m/a"); s3=$($PROBE size "$m/a")
say "attrcache actimeo=30: stat '$s1'; after server append stat '$s2'; open+read '$r'; stat '$s3'"
want "stat within actimeo after a server-side append" "$s2" "ok 5"; want "open (close-to-open revalidation)" "$r" "ok 11"
m0=$(mnt ac0 actimeo=0) || exit 1
$PROBE size "$m0/a" >/dev/null; printf '!!' >> "$S/a"
s4=$($PROBE size "$m0/a"); say "attrcache actimeo=0: stat after server append '$s4' (file is 13 bytes)"; want "actimeo=0 stat" "$s4" "ok 13"

# 2. negative lookups
ma=$(mnt la lookupcache=all,actimeo=30) || exit 1
mp=$(mnt lp lookupcache=positive,actimeo=30) || exit 1
n1=$($PROBE size "$ma/g"); p1=$($PROBE size "$mp/g"); printf x > "$S/g"
n2=$($PROBE size "$ma/g"); p2=$($PROBE size "$mp/g")
say "lookupcache=all,actimeo=30: before '$n1'; after server create '$n2'; open '$($PROBE read "$ma/g")'"
say "lookupcache=positive,actimeo=30: before '$p1'; after server create '$p2'"
want "lookupcache=all: cached ENOENT after a server-side create" "$n2" "stat: ENOENT"; want "lookupcache=positive" "$p2" "ok 1"

# 3. close-to-open: data reaches the server at close (or earlier?)
md=$(mnt cto hard) || exit 1
$PROBE write "$md/w" 1000 1000 1500 > /tmp/fid-w.out &
w=$!; sleep 0.7; during=$(stat -c %s "$S/w" 2>&1); wait $w
after=$(stat -c %s "$S/w")
say "close-to-open: writer holds 1000 written bytes open 1.5 s: server size during '$during', after close '$after' (writer '$(cat /tmp/fid-w.out)')"
want "server-side size while the writer holds the file open" "$during" 0; want "after close" "$after" 1000

# 4. partial writes seen by a server-side reader (one 64 KiB / 1 MiB write(2), then close)
mw=$(mnt ws wsize=4096) || exit 1
for sz in 65536 1048576; do
	$PROBE watch "$S/p$sz" "$sz" 2000 > /tmp/fid-watch.out &
	wt=$!; sleep 0.2
	wr=$($PROBE write "$mw/p$sz" "$sz" "$sz"); wait $wt
	say "partial write wsize=4096, $sz bytes in one write(2): writer '$wr'; server-side stat poller: $(cat /tmp/fid-watch.out)"
done
$PROBE watch "$S/q" 1048576 2000 > /tmp/fid-watch.out &
wt=$!; sleep 0.2
wr=$($PROBE write "$md/q" 1048576 1048576); wait $wt
say "partial write default wsize ($(grep " ${md%/pub/*} " /proc/mounts | grep -o 'wsize=[0-9]*')), 1048576 bytes: writer '$wr'; server-side stat poller: $(cat /tmp/fid-watch.out)"

# 5. squash: owner of a file that the client's root creates
c=$($PROBE create "$md/sq"); o=$(stat -c %u:%g "$S/sq" 2>&1)
say "root_squash: root creates in a 65534-owned dir: '$c', owner on the server $o"
want "owner of root's file under root_squash" "$o" "65534:65534"

# 6. the server replaces a file by rename while the client polls it (protocol rules 1, 4)
for opts in "lookupcache=positive,acdirmin=1,acdirmax=1" "lookupcache=positive,acdirmin=1,acdirmax=1,actimeo=0"; do
	tag=rn$(echo "$opts" | tr -dc 0-9 | cut -c1-4)
	mr=$(mnt "$tag" "hard,$opts") || exit 1
	mkdir -p "$S/rn-$tag"; $POLL publish "$S/rn-$tag" r 1 0 >/dev/null
	for retries in 1 3; do
		$POLL publish "$S/rn-$tag" r 100000 2000 > /tmp/fid-pub.out &
		p=$!
		res=$($POLL read "$mr/rn-$tag" r 2500 "$retries")
		kill $p 2>/dev/null; wait $p 2>/dev/null
		say "rename-over while polling ($opts, $retries retries): $res"
		want "torn or other errors while polling a file published by rename" \
			"$(echo "$res" | grep -o 'other=[0-9]* torn=[0-9]*')" "other=0 torn=0"
	done
done

# 7. mmap: a shared mapping after a server-side change in place
printf AAAAAAAA > "$S/mm"
mm=$(mnt mm actimeo=0) || exit 1
$PROBE mmap "$mm/mm" 1500 > /tmp/fid-mm.out &
p=$!; sleep 0.5
printf BBBBBBBB | dd of="$S/mm" conv=notrunc status=none; wait $p
m2=$(sed -n 2p /tmp/fid-mm.out); m3=$(cat "$mm/mm")
say "mmap (actimeo=0): mapped before '$(sed -n 1p /tmp/fid-mm.out)', after server change while mapped (stat'ing) '$m2', new open+read '$m3'"
want "shared mapping after a server-side change" "$m2" AAAAAAAA; want "new open+read" "$m3" BBBBBBBB
exit $bad
