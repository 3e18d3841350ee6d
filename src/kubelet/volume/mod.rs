//! Pod volumes: emptyDir, hostPath, configMap, secret, subPath.
