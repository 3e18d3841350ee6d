//! Authentication (client certificates, bearer tokens) and authorization.
