//! Places pending pods on nodes: filter, score, bind.
