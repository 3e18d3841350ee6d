//! The OCI config a container spec becomes.

use super::*;

#[test]
fn cpu_conversions_match_the_kubelet() {
    assert_eq!(milli_cpu_to_shares(0), 2);
    assert_eq!(milli_cpu_to_shares(250), 256);
    assert_eq!(milli_cpu_to_shares(1_000_000), 262_144);
    assert_eq!(milli_cpu_to_quota(0, 100_000), None);
    assert_eq!(milli_cpu_to_quota(500, 100_000), Some(50_000));
    assert_eq!(milli_cpu_to_quota(5, 100_000), Some(1000));
}

#[test]
fn config_joins_pod_namespaces_and_binds_volumes() {
    let spec = ContainerSpec {
        args: vec!["/bin/sh".into()],
        rootfs: "/r".into(),
        cgroups_path: "/bramble/podu/c".into(),
        namespaces: PodNamespaces {
            network: Some("/run/bramble/netns/p".into()),
            ..PodNamespaces::default()
        },
        mounts: vec![BindMount {
            source: "/data".into(),
            destination: "/data".into(),
            readonly: true,
            propagation: Propagation::HostToContainer,
        }],
        resources: Resources {
            cpu_limit_milli: Some(500),
            ..Resources::default()
        },
        ..ContainerSpec::default()
    };
    let json = serde_json::to_value(oci_spec(&spec).unwrap()).unwrap();
    let ns = json["linux"]["namespaces"].as_array().unwrap();
    let net = ns.iter().find(|n| n["type"] == "network").unwrap();
    assert_eq!(net["path"], "/run/bramble/netns/p");
    assert!(ns
        .iter()
        .any(|n| n["type"] == "pid" && n.get("path").is_none()));
    let bind = json["mounts"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        bind["options"],
        serde_json::json!(["rbind", "ro", "rslave"])
    );
    let cpu = &json["linux"]["resources"]["cpu"];
    assert_eq!(
        (cpu["shares"].as_u64(), cpu["quota"].as_i64()),
        (Some(512), Some(50_000))
    );
    assert_eq!(json["process"]["terminal"], false);
    assert!(json["linux"]["maskedPaths"].as_array().is_some());
    assert_eq!(json["linux"]["cgroupsPath"], "/bramble/podu/c");
}

#[test]
fn a_targeting_container_joins_the_target_s_pid_namespace() {
    let spec = ContainerSpec {
        args: vec!["sh".into()],
        rootfs: "/r".into(),
        namespaces: PodNamespaces {
            pid: Some("/proc/4242/ns/pid".into()),
            ..PodNamespaces::default()
        },
        ..ContainerSpec::default()
    };
    let json = serde_json::to_value(oci_spec(&spec).unwrap()).unwrap();
    let ns = json["linux"]["namespaces"].as_array().unwrap();
    let pid: Vec<_> = ns.iter().filter(|n| n["type"] == "pid").collect();
    assert_eq!(pid.len(), 1);
    assert_eq!(pid[0]["path"], "/proc/4242/ns/pid");
}

#[test]
fn privileged_unmasks_and_allows_devices() {
    let spec = ContainerSpec {
        args: vec!["/bin/sh".into()],
        privileged: true,
        ..ContainerSpec::default()
    };
    let json = serde_json::to_value(oci_spec(&spec).unwrap()).unwrap();
    assert_eq!(json["linux"]["maskedPaths"], serde_json::json!([]));
    assert_eq!(json["linux"]["readonlyPaths"], serde_json::json!([]));
    assert_eq!(json["linux"]["resources"]["devices"][0]["allow"], true);
}

#[test]
fn capabilities_leave_inheritable_and_ambient_empty() {
    let spec = ContainerSpec {
        args: vec!["/bin/sh".into()],
        capabilities_add: vec!["NET_ADMIN".into()],
        capabilities_drop: vec!["KILL".into()],
        ..ContainerSpec::default()
    };
    let json = serde_json::to_value(oci_spec(&spec).unwrap()).unwrap();
    let caps = &json["process"]["capabilities"];
    assert_eq!(caps["inheritable"], serde_json::json!([]));
    assert_eq!(caps["ambient"], serde_json::json!([]));
    for set in ["bounding", "effective", "permitted"] {
        let list = caps[set].as_array().unwrap();
        assert_eq!(list.len(), 14, "{set}");
        assert!(list.contains(&"CAP_NET_ADMIN".into()), "{set}");
        assert!(!list.contains(&"CAP_KILL".into()), "{set}");
    }
}

#[test]
fn seccomp_and_sysctls_reach_the_config_but_not_for_privileged() {
    let mut spec = ContainerSpec {
        args: vec!["/bin/sh".into()],
        sysctls: [("net.ipv4.tcp_syncookies".to_string(), "1".to_string())].into(),
        ..ContainerSpec::default()
    };
    let json = serde_json::to_value(oci_spec(&spec).unwrap()).unwrap();
    assert_eq!(json["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(json["linux"]["sysctl"]["net.ipv4.tcp_syncookies"], "1");
    spec.seccomp = Seccomp::Unconfined;
    let json = serde_json::to_value(oci_spec(&spec).unwrap()).unwrap();
    assert!(json["linux"].get("seccomp").is_none());
    spec.seccomp = Seccomp::RuntimeDefault;
    spec.privileged = true;
    let json = serde_json::to_value(oci_spec(&spec).unwrap()).unwrap();
    assert!(json["linux"].get("seccomp").is_none());
}

#[test]
fn privileged_gets_the_host_devices() {
    let spec = ContainerSpec {
        args: vec!["/bin/sh".into()],
        privileged: true,
        ..ContainerSpec::default()
    };
    let json = serde_json::to_value(oci_spec(&spec).unwrap()).unwrap();
    let devices = json["linux"]["devices"].as_array().unwrap();
    assert!(devices.iter().any(|d| d["path"] == "/dev/null"));
    let plain = ContainerSpec {
        privileged: false,
        ..spec
    };
    let json = serde_json::to_value(oci_spec(&plain).unwrap()).unwrap();
    assert!(json["linux"].get("devices").is_none());
}

#[test]
fn stdio_becomes_the_terminal_and_the_supervisor_s_annotations() {
    let plain = ContainerSpec {
        args: vec!["/bin/sh".into()],
        rootfs: "/r".into(),
        ..ContainerSpec::default()
    };
    let json = serde_json::to_value(oci_spec(&plain).unwrap()).unwrap();
    assert_eq!(json["process"]["terminal"], false);
    assert!(json["annotations"][STDIN_ANNOTATION].is_null());
    let spec = ContainerSpec {
        stdio: Stdio {
            stdin: true,
            stdin_once: true,
            tty: true,
        },
        ..plain
    };
    let json = serde_json::to_value(oci_spec(&spec).unwrap()).unwrap();
    assert_eq!(json["process"]["terminal"], true);
    assert_eq!(json["annotations"][STDIN_ANNOTATION], "true");
    assert_eq!(json["annotations"][STDIN_ONCE_ANNOTATION], "true");
}

#[test]
fn allocated_devices_are_created_and_allowed_after_the_denial_of_all() {
    let dev = |path: &str, minor: i64| {
        oci_spec::runtime::LinuxDeviceBuilder::default()
            .path(path)
            .typ(oci_spec::runtime::LinuxDeviceType::C)
            .major(89)
            .minor(minor)
            .file_mode(0o660u32)
            .uid(0u32)
            .gid(998u32)
            .build()
            .unwrap()
    };
    let spec = ContainerSpec {
        args: vec!["/bin/sh".into()],
        devices: vec![dev("/dev/i2c-1", 1), dev("/dev/i2c-2", 2)],
        ..ContainerSpec::default()
    };
    let json = serde_json::to_value(oci_spec(&spec).unwrap()).unwrap();
    assert_eq!(
        json["linux"]["devices"],
        serde_json::json!([
            {"path": "/dev/i2c-1", "type": "c", "major": 89, "minor": 1, "fileMode": 0o660, "uid": 0, "gid": 998},
            {"path": "/dev/i2c-2", "type": "c", "major": 89, "minor": 2, "fileMode": 0o660, "uid": 0, "gid": 998},
        ])
    );
    assert_eq!(
        json["linux"]["resources"]["devices"],
        serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 89, "minor": 1, "access": "rwm"},
            {"allow": true, "type": "c", "major": 89, "minor": 2, "access": "rwm"},
        ])
    );
}
