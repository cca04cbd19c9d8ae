"""Where raw IG lines come from: files and stdin, kubelet CRI logs, IG itself."""
