#!/bin/sh
# After install or upgrade of the .deb or .rpm: the service's own user, whose
# group may read the configuration directory (and secrets kept there). Run on
# every upgrade too, since an upgrade resets the packaged files to root:root.
set -e
if ! getent passwd kore_exporter >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --comment kore_exporter kore_exporter
fi
chgrp kore_exporter /etc/kore_exporter
if [ -f /etc/kore_exporter/config.yml ]; then
  chgrp kore_exporter /etc/kore_exporter/config.yml
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  # An upgrade restarts a running service on the new binary.
  systemctl try-restart kore_exporter.service || true
fi
echo "kore_exporter: edit /etc/kore_exporter/config.yml, then: systemctl enable --now kore_exporter"
