"""Local lab: systemd-nspawn nodes on one Linux machine for deploying the cluster end to end."""
