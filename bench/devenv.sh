# devenv.sh - sourced on the lent GPU machine after .devdeps/activate: a pkg-config
# stand-in for the carried libraries when the machine has no pkg-config.
# pkg-config: the machine's, or a stand-in that knows the carried libraries' flags.
if ! pkg-config --version > /dev/null 2>&1; then
	mkdir -p /tmp/pcshim
	cat > /tmp/pcshim/pkg-config <<'SH'
#!/bin/sh
libs=0; cflags=0; out=""
for a; do case $a in --libs) libs=1;; --cflags) cflags=1;; -*) ;; *) mods="${mods:-} $a";; esac; done
for m in ${mods:-}; do
	case $m in
	libisal) [ -e "$DEVROOT/usr/include/isa-l/crc.h" ] || exit 1; l="-lisal"; c="";;
	fuse3) l="-lfuse3 -lpthread"; c="-I$DEVROOT/usr/include/fuse3";;
	libnfs) l="-lnfs"; c="";;
	check) l="-lcheck -lsubunit -lm -lrt -pthread"; c="";;
	inih) l="-linih"; c="";;
	*) exit 1;;
	esac
	[ $libs = 1 ] && out="$out $l"
	[ $cflags = 1 ] && out="$out $c"
done
[ -n "$out" ] && echo $out
exit 0
SH
	chmod +x /tmp/pcshim/pkg-config
	export PATH=/tmp/pcshim:$PATH
	echo "device-run: no pkg-config on this machine; using a stand-in for the carried libraries"
fi
