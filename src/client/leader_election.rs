//! Leader election through a `coordination.k8s.io` Lease: only one of several servers runs the scheduler and controllers at a time.
