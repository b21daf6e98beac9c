#!/usr/bin/env bash
# Installs the Debian packages that building and testing e-secure needs.
# Idempotent: installs only what is missing; safe to run on every `make test`.
set -euo pipefail

packages=(
  firefox-esr      # the portable browser the image carries (Debian's ESR build)
  libnss3-tools    # certutil / pk12util: the fallback certificate delivery path
  xorriso          # independent ISO 9660 reader used by the image tests
  mtools           # writes files into the FAT data partition image
  dosfstools       # mkfs.fat / fsck.fat
  zstd             # the delta tool behind update patches
  xvfb             # a virtual display for GUI tests
  xauth            # needed by xvfb-run
  curl             # the RFC 7030 interoperability tests
  openssl
  postgresql       # the reference server's registry on PostgreSQL (tests run a throwaway cluster)
  sslscan          # the TLS scan of the reference server (and of a deliberately weak one)
  gir1.2-webkit2-4.1      # pywebview's GTK backend at run time (the launcher's windows)
  libgirepository1.0-dev  # building PyGObject into the venv (pywebview[gtk])
  libcairo2-dev           # building pycairo into the venv
  pkg-config
  gcc
  dbus             # dbus-run-session: pystray's GTK tray needs a session bus
  xdotool          # real clicks in the GUI tests
  debootstrap      # the Debian 13 root of the portability test (tests/bundle/test_portability.py)
  bubblewrap       # runs programs in that root (a chroot in a private mount namespace)
  wine             # the Windows launcher is frozen (and tested) under Wine
  wine64
  osslsigncode     # Authenticode: checks the Windows CPython's signatures, signs e-secure.exe
  libengine-pkcs11-openssl  # osslsigncode signing with a key on a PKCS#11 token
  softhsm2         # the tests' PKCS#11 token (the bank's is an HSM or a USB token)
  gcc-mingw-w64-x86-64-win32  # test-only Windows stand-ins (firefox.exe, a Wine 8 DLL stub)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

echo "system packages: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
else
  sudo=
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "system packages: done"
