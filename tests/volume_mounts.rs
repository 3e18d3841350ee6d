//! Pod volumes on a real host (needs root): emptyDir on disk and tmpfs with a size limit,
//! every hostPath type, configMap/secret projection with an atomic refresh, subPath escapes,
//! and a teardown that leaves no mount behind.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bramble::kubelet::volume::{
    mount_points_under, HostPathPolicy, MountPropagation, PodVolumes, PrefetchedSources,
    VolumeManager,
};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, HostPathVolumeSource,
    KeyToPath, Pod, PodSpec, Secret, SecretVolumeSource, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "tests/volume_mounts.rs mounts tmpfs and bind mounts: run it as root"
    );
}

/// A temp DATA dir and a manager; on drop, tears the pod down and detaches anything left.
struct Node {
    manager: VolumeManager,
    uid: String,
    data: tempfile::TempDir,
}

impl Node {
    fn new() -> Self {
        require_root();
        let data = tempfile::tempdir().unwrap();
        let manager = VolumeManager::new(data.path(), HostPathPolicy::allow_all())
            .with_node_allocatable_memory(64 << 20);
        let uid = uuid::Uuid::new_v4().to_string();
        Node { manager, uid, data }
    }

    fn pod_dir(&self) -> PathBuf {
        self.manager.pod_dir(&self.uid)
    }

    fn pod(&self, volumes: Vec<Volume>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                uid: Some(self.uid.clone()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                volumes: Some(volumes),
                containers: vec![Container {
                    name: "c".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn mounts(&self) -> Vec<PathBuf> {
        let root = fs::canonicalize(self.data.path()).unwrap();
        mount_points_under(&root).unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.manager.teardown(&self.uid);
        if let Ok(root) = fs::canonicalize(self.data.path()) {
            for m in mount_points_under(&root).unwrap_or_default() {
                let c = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()).unwrap();
                // SAFETY: a NUL-terminated path that outlives the call.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

/// Filesystem type mounted exactly at `path`, from /proc/self/mountinfo.
fn fstype_at(path: &Path) -> Option<String> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let path = path.to_str().unwrap();
    info.lines().rev().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        (left.split(' ').nth(4)? == path).then(|| right.split(' ').next().unwrap().to_string())
    })
}

fn volume(name: &str) -> Volume {
    Volume {
        name: name.into(),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str, sub_path: Option<&str>) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        sub_path: sub_path.map(Into::into),
        ..Default::default()
    }
}

fn container(mounts: Vec<VolumeMount>) -> Container {
    Container {
        name: "c".into(),
        volume_mounts: Some(mounts),
        ..Default::default()
    }
}

#[test]
fn empty_dirs_on_disk_and_in_memory_with_a_size_limit() {
    let node = Node::new();
    let pod = node.pod(vec![
        Volume {
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..volume("cache")
        },
        Volume {
            empty_dir: Some(EmptyDirVolumeSource {
                medium: Some("Memory".into()),
                size_limit: Some(Quantity("1Mi".into())),
            }),
            ..volume("shm")
        },
    ]);
    let vols = node
        .manager
        .setup(&pod, &PrefetchedSources::default())
        .unwrap();
    let disk = vols.host_path("cache").unwrap().to_path_buf();
    assert_eq!(
        disk,
        node.pod_dir().join("volumes/kubernetes.io~empty-dir/cache")
    );
    assert_eq!(
        fs::metadata(&disk).unwrap().permissions().mode() & 0o777,
        0o777
    );
    let shm = vols.host_path("shm").unwrap().to_path_buf();
    assert_eq!(fstype_at(&shm).as_deref(), Some("tmpfs"));

    let err = fs::write(shm.join("big"), vec![0u8; 2 << 20]).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    fs::write(disk.join("big"), vec![0u8; 2 << 20]).unwrap();

    // Setting up again (a restarted kubelet) reuses the tmpfs instead of stacking another.
    node.manager
        .setup(&pod, &PrefetchedSources::default())
        .unwrap();
    assert_eq!(node.mounts().len(), 1);

    let mounts = vols
        .mounts_for(&container(vec![mount("cache", "/cache", None)]))
        .unwrap();
    assert_eq!(mounts[0].source, disk);
    assert_eq!(mounts[0].destination, PathBuf::from("/cache"));
    assert!(!mounts[0].read_only);
    assert_eq!(mounts[0].propagation, MountPropagation::Private);

    node.manager.teardown(&node.uid).unwrap();
    assert!(node.mounts().is_empty());
    assert!(!node.pod_dir().join("volumes").exists());
    node.manager.teardown(&node.uid).unwrap();
}

#[test]
fn host_path_types_check_and_create_like_upstream() {
    let node = Node::new();
    let host = tempfile::tempdir().unwrap();
    let dir = host.path().join("dir");
    let file = host.path().join("file");
    let sock = host.path().join("sock");
    fs::create_dir(&dir).unwrap();
    fs::write(&file, b"x").unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let s = |p: &Path| p.display().to_string();
    let created_dir = host.path().join("made/deep");
    let created_file = host.path().join("made-file");
    let cases: Vec<(String, &str, Option<String>)> = vec![
        (s(&dir), "Directory", None),
        (
            s(&file),
            "Directory",
            Some(format!("{} is not a directory", s(&file))),
        ),
        (s(&created_dir), "DirectoryOrCreate", None),
        (s(&file), "File", None),
        (s(&dir), "File", Some(format!("{} is not a file", s(&dir)))),
        (s(&created_file), "FileOrCreate", None),
        (
            s(&host.path().join("nodir/f")),
            "FileOrCreate",
            Some("No such file or directory".into()),
        ),
        (s(&sock), "Socket", None),
        (
            s(&file),
            "Socket",
            Some(format!("{} is not a socket file", s(&file))),
        ),
        ("/dev/null".into(), "CharDevice", None),
        (
            s(&file),
            "CharDevice",
            Some(format!("{} is not a character device", s(&file))),
        ),
        (
            "/dev/null".into(),
            "BlockDevice",
            Some("/dev/null is not a block device".into()),
        ),
        (s(&dir), "", None),
    ];
    for (path, kind, expected) in cases {
        let pod = node.pod(vec![Volume {
            host_path: Some(HostPathVolumeSource {
                path: path.clone(),
                type_: Some(kind.into()),
            }),
            ..volume("h")
        }]);
        let result = node.manager.setup(&pod, &PrefetchedSources::default());
        match (result, expected) {
            (Ok(vols), None) => {
                let mounts = vols
                    .mounts_for(&container(vec![mount("h", "/h", None)]))
                    .unwrap();
                // The runtime gets the kubelet's staging mount of the opened host object.
                let staged = &mounts[0].source;
                assert!(staged.starts_with(node.pod_dir()), "{kind}: {staged:?}");
                let (a, b) = (fs::metadata(staged).unwrap(), fs::metadata(&path).unwrap());
                assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()), "{kind} {path}");
                node.manager.teardown(&node.uid).unwrap();
                assert!(fs::metadata(&path).is_ok(), "teardown removed {path}");
            }
            (Err(e), Some(msg)) => {
                assert!(e.to_string().contains(&msg), "{kind} {path}: {e}");
                if msg.contains("is not a") {
                    assert!(e.to_string().starts_with("hostPath type check failed: "));
                }
            }
            (r, want) => panic!("{kind} {path}: got {r:?}, want error {want:?}"),
        }
    }
    assert!(created_dir.is_dir());
    assert!(created_file.is_file());
    assert_eq!(fs::metadata(&created_file).unwrap().len(), 0);

    let policy = VolumeManager::new(
        node.data.path(),
        HostPathPolicy::new(&[host.path().display().to_string()], node.data.path()),
    );
    let pod = node.pod(vec![Volume {
        host_path: Some(HostPathVolumeSource {
            path: "/etc".into(),
            type_: None,
        }),
        ..volume("h")
    }]);
    let err = policy
        .setup(&pod, &PrefetchedSources::default())
        .unwrap_err();
    assert!(err.to_string().contains("not allowed"), "{err}");
}

fn sources(cm_data: &[(&str, &str)], secret_data: &[(&str, &str)]) -> PrefetchedSources {
    let meta = |name: &str| ObjectMeta {
        name: Some(name.into()),
        namespace: Some("ns".into()),
        ..Default::default()
    };
    let mut s = PrefetchedSources::default();
    s.insert_config_map(ConfigMap {
        metadata: meta("cfg"),
        data: Some(
            cm_data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    });
    s.insert_secret(Secret {
        metadata: meta("creds"),
        data: Some(
            secret_data
                .iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Default::default()
    });
    s
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn config_map_and_secret_projection_with_atomic_refresh() {
    let node = Node::new();
    let pod = node.pod(vec![
        Volume {
            config_map: Some(ConfigMapVolumeSource {
                name: "cfg".into(),
                default_mode: Some(0o640),
                items: Some(vec![
                    KeyToPath {
                        key: "app.conf".into(),
                        path: "conf/app.conf".into(),
                        mode: Some(0o600),
                    },
                    KeyToPath {
                        key: "level".into(),
                        path: "level".into(),
                        mode: None,
                    },
                ]),
                optional: None,
            }),
            ..volume("config")
        },
        Volume {
            secret: Some(SecretVolumeSource {
                secret_name: Some("creds".into()),
                default_mode: Some(0o400),
                ..Default::default()
            }),
            ..volume("creds")
        },
    ]);
    let first = sources(
        &[("app.conf", "port=1"), ("level", "info"), ("unused", "x")],
        &[("password", "hunter2"), ("user", "admin")],
    );
    let vols = node.manager.setup(&pod, &first).unwrap();
    let cfg = vols.host_path("config").unwrap().to_path_buf();
    let sec = vols.host_path("creds").unwrap().to_path_buf();
    assert_eq!(
        fs::read_to_string(cfg.join("conf/app.conf")).unwrap(),
        "port=1"
    );
    assert_eq!(mode(&cfg.join("conf/app.conf")), 0o600);
    assert_eq!(mode(&cfg.join("level")), 0o640);
    assert!(!cfg.join("unused").exists());
    assert_eq!(
        fs::read_link(cfg.join("level")).unwrap(),
        Path::new("..data/level")
    );
    assert_eq!(fstype_at(&sec).as_deref(), Some("tmpfs"));
    assert_eq!(fs::read_to_string(sec.join("password")).unwrap(), "hunter2");
    assert_eq!(mode(&sec.join("user")), 0o400);

    let mounts = vols
        .mounts_for(&container(vec![
            mount("config", "/etc/app", None),
            mount("creds", "/run/creds", None),
        ]))
        .unwrap();
    assert!(mounts.iter().all(|m| m.read_only), "{mounts:?}");

    let before = fs::read_link(cfg.join("..data")).unwrap();
    let second = sources(&[("app.conf", "port=2")], &[("password", "s3cret")]);
    let err = node.manager.refresh(&pod, &second).unwrap_err();
    assert_eq!(
        err.to_string(),
        "configmap references non-existent config key: level"
    );
    let second = sources(
        &[("app.conf", "port=2"), ("level", "debug")],
        &[("password", "s3cret")],
    );
    node.manager.refresh(&pod, &second).unwrap();
    let after = fs::read_link(cfg.join("..data")).unwrap();
    assert_ne!(before, after);
    assert!(!cfg.join(&before).exists());
    assert_eq!(
        fs::read_to_string(cfg.join("conf/app.conf")).unwrap(),
        "port=2"
    );
    assert_eq!(fs::read_to_string(sec.join("password")).unwrap(), "s3cret");
    assert!(fs::symlink_metadata(sec.join("user")).is_err());

    let missing = node.pod(vec![Volume {
        secret: Some(SecretVolumeSource {
            secret_name: Some("nope".into()),
            ..Default::default()
        }),
        ..volume("creds")
    }]);
    let err = node.manager.setup(&missing, &second).unwrap_err();
    assert_eq!(err.to_string(), "secrets \"nope\" not found");

    node.manager.teardown(&node.uid).unwrap();
    assert!(node.mounts().is_empty());
}

fn sub_path_pod(node: &Node) -> (Pod, PodVolumes) {
    let pod = node.pod(vec![Volume {
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".into()),
            size_limit: None,
        }),
        ..volume("work")
    }]);
    let vols = node
        .manager
        .setup(&pod, &PrefetchedSources::default())
        .unwrap();
    let root = vols.host_path("work").unwrap();
    fs::create_dir_all(root.join("data/site")).unwrap();
    fs::write(root.join("data/site/index.html"), b"hello").unwrap();
    std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
    std::os::unix::fs::symlink("../..", root.join("data/up")).unwrap();
    (pod, vols)
}

#[test]
fn sub_paths_stay_inside_their_volume_and_are_pinned() {
    let node = Node::new();
    let (_pod, vols) = sub_path_pod(&node);
    for bad in [
        "../x",
        "data/../../x",
        "/etc",
        "escape",
        "escape/passwd",
        "data/up",
    ] {
        let err = vols
            .mounts_for(&container(vec![mount("work", "/w", Some(bad))]))
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("not within volume path")
                || msg.contains("must not contain '..'")
                || msg.contains("must not be an absolute path"),
            "{bad}: {msg}"
        );
    }
    let mounts = vols
        .mounts_for(&container(vec![
            mount("work", "/usr/share/html", Some("data/site")),
            mount("work", "/index.html", Some("data/site/index.html")),
            mount("work", "/fresh", Some("made/on/demand")),
        ]))
        .unwrap();
    let subpaths = node.pod_dir().join("volume-subpaths/work/c");
    assert_eq!(mounts[0].source, subpaths.join("0"));
    assert_eq!(
        fs::read_to_string(mounts[0].source.join("index.html")).unwrap(),
        "hello"
    );
    assert_eq!(fs::read_to_string(&mounts[1].source).unwrap(), "hello");
    assert!(vols
        .host_path("work")
        .unwrap()
        .join("made/on/demand")
        .is_dir());
    for m in &mounts {
        assert!(
            fstype_at(&m.source).is_some(),
            "{:?} is not a mount",
            m.source
        );
    }

    let unknown = vols
        .mounts_for(&container(vec![mount("nope", "/x", None)]))
        .unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "cannot find volume \"nope\" to mount into container \"c\""
    );
    let mut bidi = mount("work", "/x", None);
    bidi.mount_propagation = Some("Bidirectional".into());
    let err = vols.mounts_for(&container(vec![bidi])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Bidirectional mount propagation is available only to privileged containers"
    );

    // A new manager (as after a crash) finds the mounts through mountinfo.
    let fresh = VolumeManager::new(node.data.path(), HostPathPolicy::allow_all());
    assert_eq!(node.mounts().len(), 4);
    fresh.teardown(&node.uid).unwrap();
    assert!(node.mounts().is_empty(), "{:?}", node.mounts());
    assert!(!node.pod_dir().exists());
    assert!(Path::new("/etc/passwd").exists());
}

#[test]
fn teardown_of_a_host_path_sub_path_keeps_the_host_files() {
    let node = Node::new();
    let host = tempfile::tempdir().unwrap();
    fs::create_dir(host.path().join("shared")).unwrap();
    fs::write(host.path().join("shared/keep"), b"precious").unwrap();
    let pod = node.pod(vec![Volume {
        host_path: Some(HostPathVolumeSource {
            path: host.path().display().to_string(),
            type_: Some("Directory".into()),
        }),
        ..volume("host")
    }]);
    let vols = node
        .manager
        .setup(&pod, &PrefetchedSources::default())
        .unwrap();
    let mounts = vols
        .mounts_for(&container(vec![mount("host", "/shared", Some("shared"))]))
        .unwrap();
    assert_eq!(
        fs::read_to_string(mounts[0].source.join("keep")).unwrap(),
        "precious"
    );
    node.manager.teardown(&node.uid).unwrap();
    assert!(node.mounts().is_empty());
    assert_eq!(
        fs::read_to_string(host.path().join("shared/keep")).unwrap(),
        "precious"
    );
}
