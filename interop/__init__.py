"""Interoperability with other Kubernetes deployers' inventories (kubespray: `interop.kubespray`)."""
