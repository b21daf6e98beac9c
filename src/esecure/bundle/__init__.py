"""The key image: tree layout, ISO writer, FAT data partition, Firefox profile and policies,
signed manifest, PyInstaller driver. Never talks to the network."""
