//! OCI images: registry client, content-addressed blob store, layer unpacking, rootfs.
