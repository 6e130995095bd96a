#!/bin/sh
# Before removal (not upgrade) of the .deb ("remove") or .rpm (0): stop the
# service. The user and /etc/kore_exporter/config.yml are left in place.
case "$1" in
  remove | 0)
    if [ -d /run/systemd/system ]; then
      systemctl disable --now kore_exporter.service || true
    fi
    ;;
esac
