//! Cluster PKI: CA, certificates, join tokens, kubeconfig files.
