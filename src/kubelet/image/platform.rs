//! This node's OCI platform and the choice of a multi-arch index entry for it, ordered as
//! containerd's `platforms.Only` matcher orders them: the exact platform first, then the
//! older variants it can also run (arm64 runs arm/v8…v5, arm/v7 runs v6 and v5, amd64 runs 386).

use serde::{Deserialize, Serialize};

/// An OCI platform (`os`, `architecture`, `variant`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// Operating system (`linux`).
    #[serde(default)]
    pub os: String,
    /// Architecture in GOARCH spelling (`amd64`, `arm64`, `arm`).
    #[serde(default)]
    pub architecture: String,
    /// CPU variant (`v6`, `v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// A linux platform.
    pub fn linux(architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.map(str::to_string),
        }
    }

    /// The platform this process runs on (arm variant read from `/proc/cpuinfo`).
    pub fn host() -> Platform {
        match std::env::consts::ARCH {
            "x86_64" => Platform::linux("amd64", None),
            "aarch64" => Platform::linux("arm64", Some("v8")),
            "x86" => Platform::linux("386", None),
            "arm" => {
                let v = std::fs::read_to_string("/proc/cpuinfo")
                    .ok()
                    .and_then(|s| arm_variant_from_cpuinfo(&s));
                Platform::linux("arm", Some(v.unwrap_or("v7")))
            }
            other => Platform::linux(other, None),
        }
        .normalized()
    }

    /// Canonical spelling (`aarch64` → `arm64/v8`, `armhf` → `arm/v7`, `x86_64` → `amd64`).
    pub fn normalized(&self) -> Platform {
        let os = self.os.to_ascii_lowercase();
        let variant = self.variant.clone().filter(|v| !v.is_empty());
        let (arch, variant) = match self.architecture.to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" | "amd64" => ("amd64".to_string(), variant.filter(|v| v != "v1")),
            "i386" => ("386".to_string(), None),
            "aarch64" | "arm64" => {
                let v = match variant.as_deref() {
                    None | Some("8") => "v8".to_string(),
                    Some(v) => v.to_string(),
                };
                ("arm64".to_string(), Some(v))
            }
            "armhf" => ("arm".to_string(), Some("v7".to_string())),
            "armel" => ("arm".to_string(), Some("v6".to_string())),
            "arm" => {
                let v = match variant.as_deref() {
                    None | Some("7") => "v7".to_string(),
                    Some("5") | Some("6") | Some("8") => {
                        format!("v{}", variant.unwrap_or_default())
                    }
                    Some(v) => v.to_string(),
                };
                ("arm".to_string(), Some(v))
            }
            other => (other.to_string(), variant),
        };
        Platform {
            os,
            architecture: arch,
            variant,
        }
    }

    /// Platforms this one can run, best first.
    fn compatible(&self) -> Vec<Platform> {
        let p = self.normalized();
        let variant_num = p.variant.as_deref().and_then(|v| {
            v.trim_start_matches('v')
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()
        });
        let mut out = vec![p.clone()];
        match p.architecture.as_str() {
            "amd64" => {
                if let Some(n) = variant_num {
                    for k in (1..n).rev() {
                        let v = if k == 1 { None } else { Some(format!("v{k}")) };
                        out.push(Platform {
                            variant: v,
                            ..p.clone()
                        });
                    }
                }
                out.push(Platform::linux("386", None));
            }
            "arm" => {
                for k in (5..variant_num.unwrap_or(7)).rev() {
                    out.push(Platform::linux("arm", Some(&format!("v{k}"))));
                }
            }
            "arm64" => {
                if p.variant.as_deref() != Some("v8") {
                    out.push(Platform::linux("arm64", Some("v8")));
                }
                out.extend(Platform::linux("arm", Some("v8")).compatible());
            }
            _ => {}
        }
        out
    }

    /// How well `candidate` suits this platform: `Some(rank)` (0 best) or `None` if it cannot run.
    pub fn rank(&self, candidate: &Platform) -> Option<usize> {
        let c = candidate.normalized();
        self.compatible().iter().position(|p| {
            p.os == c.os && p.architecture == c.architecture && p.variant == c.variant
        })
    }

    /// `os/arch[/variant]`.
    pub fn display(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{}", self.os, self.architecture, v),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// containerd's `getCPUVariant`: the `CPU architecture` line of `/proc/cpuinfo`.
fn arm_variant_from_cpuinfo(cpuinfo: &str) -> Option<&'static str> {
    let line = cpuinfo
        .lines()
        .find(|l| l.starts_with("CPU architecture"))?;
    let value = line.split(':').nth(1)?.trim();
    Some(match value {
        "8" | "AArch64" => "v8",
        "7" => "v7",
        "6" => "v6",
        "5" => "v5",
        _ => "v7",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &str, v: Option<&str>) -> Platform {
        Platform::linux(a, v)
    }

    #[test]
    fn exact_match_ranks_first_and_fallbacks_follow() {
        let arm64 = p("arm64", None);
        assert_eq!(arm64.rank(&p("arm64", Some("v8"))), Some(0));
        assert_eq!(arm64.rank(&p("aarch64", None)), Some(0));
        assert!(
            arm64.rank(&p("arm", Some("v7"))).unwrap() > arm64.rank(&p("arm", Some("v8"))).unwrap()
        );
        assert!(arm64.rank(&p("arm", Some("v6"))).is_some());
        assert_eq!(arm64.rank(&p("amd64", None)), None);
    }

    #[test]
    fn arm_variants_like_containerd() {
        let v7 = p("arm", Some("v7"));
        assert_eq!(
            v7.rank(&p("arm", None)),
            Some(0),
            "arm without variant means v7"
        );
        assert_eq!(v7.rank(&p("arm", Some("v6"))), Some(1));
        assert_eq!(v7.rank(&p("arm", Some("v5"))), Some(2));
        assert_eq!(v7.rank(&p("arm", Some("v8"))), None, "v7 cannot run v8");
        assert_eq!(v7.rank(&p("arm64", None)), None);
        let v6 = p("arm", Some("v6"));
        assert_eq!(v6.rank(&p("arm", Some("v7"))), None);
    }

    #[test]
    fn amd64_runs_386_but_not_arm_and_os_must_match() {
        let amd = p("amd64", None);
        assert_eq!(amd.rank(&p("x86_64", None)), Some(0));
        assert_eq!(amd.rank(&p("386", None)), Some(1));
        assert_eq!(amd.rank(&p("arm64", None)), None);
        let win = Platform {
            os: "windows".into(),
            ..p("amd64", None)
        };
        assert_eq!(amd.rank(&win), None);
    }

    #[test]
    fn cpuinfo_variant() {
        assert_eq!(
            arm_variant_from_cpuinfo("processor\t: 0\nCPU architecture: 7\n"),
            Some("v7")
        );
        assert_eq!(arm_variant_from_cpuinfo("CPU architecture: 6"), Some("v6"));
    }
}
