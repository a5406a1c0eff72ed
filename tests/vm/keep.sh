# shellcheck shell=sh
# keep.sh - sourced by the guests' /init (tests/vm/init, tests/systemd/init; in the
# initramfs as /lib/keep.sh, busybox sh). The guest's root is the host's / (9p, under an
# overlay), but its init mounts a fresh tmpfs on /tmp (and /run), which would hide a tree
# that lives there (a clone in a `mktemp -d` directory). vgpu_keep= on the kernel command
# line (vm_keep in tests/vm/vmlib.sh: the tree, $BUILD, the guest script's directory,
# colon-separated) names the host paths the guest needs at the same place.
#
#   keep aside ROOT DIR...   before DIRs get their fresh mounts: each kept path under one
#                            of DIRs, ROOT$P (the overlay's view), is bound at /keep/N
#   keep back ROOT DIR...    after: each is moved back to ROOT$P (made in the fresh tmpfs)
#
# So the tree is the overlay's, as anywhere else: readable, writable into the tmpfs upper
# layer, and the out share mounted at its path inside it afterwards still reaches the host.
# A failed mount ends the guest (halt_now, from the init), which then leaves no exit marker.
keep() {
	_act=$1 _root=$2 _n=0
	shift 2
	for _p in $(echo "${vgpu_keep:-}" | tr : ' '); do
		_n=$((_n + 1))
		for _d in "$@"; do
			case $_p in "$_d"/*) ;; *) continue ;; esac
			if [ "$_act" = aside ]; then
				mkdir -p "/keep/$_n" && mount --bind "$_root$_p" "/keep/$_n"
			else
				mkdir -p "$_root$_p" && mount --move "/keep/$_n" "$_root$_p"
			fi || { say "FATAL: keeping $_p in the guest ($_act) failed"; halt_now; }
			break
		done
	done
}
