"""TEST DOUBLES: stand-in kubeadm/kubelet/kubectl packages built for the lab (not Kubernetes)."""
