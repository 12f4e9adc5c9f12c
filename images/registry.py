"""A client of the OCI distribution API (pull and push) over plain http.client, verifying every digest."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection
from urllib.parse import quote, urlencode, urljoin, urlsplit

from images.credentials import Credentials
from images.oci import OCI_INDEX, OCI_MANIFEST, REF_NAME, Layout

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_ACCEPT = f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"
INDEX_ACCEPT = f"{OCI_INDEX}, {DOCKER_MANIFEST_LIST}, {MANIFEST_ACCEPT}"
CHUNK = 1 << 20  # bytes per read and write when streaming a blob
MAX_REDIRECTS = 5
# Documents read whole into memory are capped (Distribution itself refuses manifests over 4 MiB).
MAX_MANIFEST_BYTES = 4 << 20
MAX_CONFIG_BYTES = 8 << 20
MAX_ERROR_BYTES = 64 << 10  # of an error answer's body, kept for its message
USER_AGENT = "strata-registry-client/1"

# The distribution spec's grammar (distribution/reference).
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
MAX_NAME = 255


class RegistryError(Exception):
    """A registry request failed; the message says what and where."""


class RegistryUnavailable(RegistryError):
    """The registry cannot be reached, timed out, or answered 5xx."""


class ImageNotFound(RegistryError):
    """The registry has no such image (manifest or repository unknown)."""


class DigestMismatch(RegistryError):
    """Bytes received do not hash to the digest they were asked for by."""


class TooLarge(DigestMismatch):
    """More bytes came (or were announced) than the descriptor or the cap allows: the download was cut short."""


@dataclass(frozen=True)
class LayerRef:
    digest: str
    size: int  # bytes of the blob
    media_type: str


@dataclass(frozen=True)
class ImageManifest:
    reference: str  # "name:tag" (or "name@sha256:..." when pulled by digest)
    digest: str  # of the manifest bytes
    config_digest: str
    config: dict  # the image configuration (Env, Cmd, rootfs.diff_ids, ...)
    layers: tuple[LayerRef, ...]  # bottom first


@dataclass(frozen=True)
class ImageLayers:
    """What an image is made of for one platform, read from its manifest."""

    reference: str  # "name:tag" or "name@sha256:..." as asked
    manifest_digest: str  # of the platform's own manifest (not of the index that led to it)
    platform: str  # "linux/amd64"
    layers: tuple[LayerRef, ...]  # bottom first


@dataclass(frozen=True)
class PushReport:
    blobs_pushed: int  # uploaded
    blobs_skipped: int  # already in the repository
    bytes_pushed: int  # bytes uploaded
    blobs_mounted: int = 0  # linked from another repository of the registry, no bytes sent

    def __add__(self, other: "PushReport") -> "PushReport":
        return PushReport(self.blobs_pushed + other.blobs_pushed, self.blobs_skipped + other.blobs_skipped,
                          self.bytes_pushed + other.bytes_pushed, self.blobs_mounted + other.blobs_mounted)


def parse_reference(text: str) -> tuple[str, str]:
    """"nginx" -> ("nginx", "latest"); "a/b:v1" -> ("a/b", "v1"); "a@sha256:..." -> ("a", "sha256:...").

    Names are repository paths of the client's registry: no host part (the base URL names it).
    """
    if not text or text != text.strip():
        raise ValueError(f"bad image reference {text!r}: empty or surrounded by spaces")
    if "@" in text:
        name, reference = text.split("@", 1)
        if not _DIGEST.fullmatch(reference):
            raise ValueError(f"bad image reference {text!r}: after '@' expected sha256:<64 lowercase hex>")
    else:
        slash = text.rfind("/")
        colon = text.rfind(":")
        if colon > slash:
            name, reference = text[:colon], text[colon + 1:]
            if not _TAG.fullmatch(reference):
                raise ValueError(f"bad image reference {text!r}: tag {reference!r} must be 1-128 of "
                                 "letters, digits, '_', '.', '-' and not start with '.' or '-'")
        else:
            name, reference = text, "latest"
    components = name.split("/")
    if any(":" in c for c in components):
        raise ValueError(f"bad image reference {text!r}: it names a registry host; give the repository path "
                         "only (the client's base URL names the registry)")
    if len(name) > MAX_NAME or not all(_COMPONENT.fullmatch(c) for c in components):
        hint = " (names are lowercase)" if name != name.lower() else ""
        raise ValueError(f"bad image reference {text!r}: name {name!r} must be '/'-separated lowercase "
                         f"alphanumeric components joined by '.', '_', '__' or '-', at most {MAX_NAME} "
                         f"characters{hint}")
    return name, reference


def reference_text(name: str, reference: str) -> str:
    """parse_reference's parts written back: "name@sha256:..." for a digest, "name:tag" otherwise."""
    return f"{name}@{reference}" if reference.startswith("sha256:") else f"{name}:{reference}"


def _check_digest(digest: str) -> None:
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"bad digest {digest!r}: expected sha256:<64 lowercase hex>")


def _registry_message(body: bytes) -> str:
    """The registry's own error text ({"errors": [{"code", "message", "detail"}]}), if any."""
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace").strip()
    return "; ".join(f"{e.get('code', '?')}: {e.get('message', '')}" for e in errors)


class RegistryClient:
    """The OCI distribution API of one registry. Each request has its own connection, so one client
    may be used from several threads."""

    def __init__(self, base_url: str, timeout: float = 30.0, *, follow_redirects: bool = True,
                 credentials: Credentials | None = None):
        """`follow_redirects` False: a redirect is an error (a node agent fetches only from where it was
        told, never from wherever an answer points). `credentials` are sent with writes (every method
        but GET and HEAD) to this registry's own host and port only; reads are open."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"bad registry URL {base_url!r}: expected http://HOST:PORT")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.follow_redirects = follow_redirects
        self.credentials = credentials

    def __repr__(self) -> str:
        return f"RegistryClient({self.base_url!r})"

    # -- transport

    def _open(self, method: str, url: str, *, headers: dict | None = None, body=None,
              follow_redirects: bool = False) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send a request; the caller reads the response and closes the connection. 5xx and
        connection failures raise RegistryUnavailable."""
        url = urljoin(self.base_url + "/", url)
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            conn = connection_class(parts.netloc, timeout=self.timeout, blocksize=CHUNK)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            sent = {"User-Agent": USER_AGENT, **(headers or {})}
            if self.credentials and method not in ("GET", "HEAD") and parts.netloc == urlsplit(self.base_url).netloc:
                sent["Authorization"] = self.credentials.authorization()
            try:
                conn.request(method, target, body=body, headers=sent)
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise RegistryUnavailable(f"registry {self.base_url}: {method} {target} failed: "
                                          f"{exc or type(exc).__name__}") from exc
            if follow_redirects and self.follow_redirects and response.status in (301, 302, 303, 307, 308):
                url = urljoin(url, response.getheader("Location", ""))
                response.read()
                conn.close()
                continue
            if response.status >= 500:
                detail = _registry_message(self._read_error(conn, response))
                raise RegistryUnavailable(f"registry {self.base_url}: {method} {target} answered "
                                          f"{response.status} {response.reason}" + (f" ({detail})" if detail else ""))
            return conn, response
        raise RegistryError(f"registry {self.base_url}: more than {MAX_REDIRECTS} redirects for {url}")

    def _read(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse,
              cap: int | None = None, what: str = "answer") -> bytes:
        """The whole body (at most `cap` bytes: TooLarge past it, as soon as it is announced or read)."""
        try:
            if cap is None:
                return response.read()
            announced = response.getheader("Content-Length")
            if announced and announced.isdigit() and int(announced) > cap:
                raise TooLarge(f"registry {self.base_url}: {what} is {int(announced):,} bytes; at most {cap:,} are read")
            data = response.read(cap + 1)
            if len(data) > cap:
                raise TooLarge(f"registry {self.base_url}: {what} is over {cap:,} bytes; at most {cap:,} are read")
            return data
        except (OSError, http.client.HTTPException) as exc:
            raise RegistryUnavailable(f"registry {self.base_url}: connection lost while reading: {exc}") from exc
        finally:
            conn.close()

    def _read_error(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse) -> bytes:
        """The start of an error answer's body, for its message (never the whole of a large body)."""
        try:
            return response.read(MAX_ERROR_BYTES)
        except (OSError, http.client.HTTPException):
            return b""
        finally:
            conn.close()

    def _call(self, method: str, url: str, *, expect: tuple[int, ...], what: str, headers: dict | None = None,
              body=None, follow_redirects: bool = False) -> tuple[http.client.HTTPResponse, bytes]:
        """A request whose answer is small: (response, body); an unexpected status raises RegistryError."""
        conn, response = self._open(method, url, headers=headers, body=body, follow_redirects=follow_redirects)
        data = self._read(conn, response)
        if response.status not in expect:
            detail = _registry_message(data)
            raise RegistryError(f"registry {self.base_url}: {what}: {response.status} {response.reason}"
                                + (f" ({detail})" if detail else ""))
        return response, data

    # -- reading

    def ping(self) -> bool:
        """True if GET /v2/ answers 200 (an API v2 registry without auth is there)."""
        try:
            conn, response = self._open("GET", "/v2/")
            self._read(conn, response)
        except RegistryUnavailable:
            return False
        return response.status == 200

    def _manifest_document(self, name: str, ref: str, shown: str, accept: str) -> tuple[dict, str, str]:
        """GET a manifest (or index): (its JSON, the digest of its bytes, its media type), the digest
        checked against the one the registry announces (or the one asked for)."""
        conn, response = self._open("GET", f"/v2/{name}/manifests/{ref}", headers={"Accept": accept})
        if response.status != 200:
            body = self._read_error(conn, response)
        else:
            body = self._read(conn, response, MAX_MANIFEST_BYTES, f"the manifest of {shown}")
        if response.status == 404:
            raise ImageNotFound(f"image {shown} not found in registry {self.base_url}")
        if response.status != 200:
            raise RegistryError(f"registry {self.base_url}: manifest of {shown}: {response.status} "
                                f"{response.reason} ({_registry_message(body)})")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        announced = response.getheader("Docker-Content-Digest") or (ref if ref.startswith("sha256:") else None)
        if announced and announced != digest:
            raise DigestMismatch(f"manifest of {shown} from {self.base_url}: expected {announced}, "
                                 f"its bytes hash to {digest}")
        try:
            document = json.loads(body)
        except ValueError:
            raise RegistryError(f"registry {self.base_url}: manifest of {shown} is not JSON") from None
        if not isinstance(document, dict):
            raise RegistryError(f"registry {self.base_url}: manifest of {shown} is not a JSON object")
        return document, digest, document.get("mediaType") or response.getheader("Content-Type", "")

    def manifest(self, reference: str) -> ImageManifest:
        """The image manifest and its configuration, both checked against their digests."""
        name, ref = parse_reference(reference)
        shown = reference_text(name, ref)
        manifest, digest, media_type = self._manifest_document(name, ref, shown, MANIFEST_ACCEPT)
        if media_type in (OCI_INDEX, DOCKER_MANIFEST_LIST) or "manifests" in manifest:
            raise RegistryError(f"image {shown} in {self.base_url} is a multi-platform index; "
                                "only single-platform images are supported")
        try:
            config_digest, config_size = manifest["config"]["digest"], int(manifest["config"]["size"])
            layers = tuple(LayerRef(l["digest"], int(l["size"]), l["mediaType"]) for l in manifest["layers"])
        except (KeyError, TypeError, ValueError):
            raise RegistryError(f"registry {self.base_url}: manifest of {shown} has no valid config and "
                                "layer list") from None
        if not 0 <= config_size <= MAX_CONFIG_BYTES:
            raise TooLarge(f"registry {self.base_url}: the config of {shown} is {config_size:,} bytes; at most "
                           f"{MAX_CONFIG_BYTES:,} are read")
        try:
            config = json.loads(self._small_blob(name, config_digest, config_size))
        except ValueError:
            raise RegistryError(f"registry {self.base_url}: the config of {shown} is not JSON") from None
        return ImageManifest(shown, digest, config_digest, config, layers)

    def image_layers(self, reference: str, *, platform: str = "linux/amd64") -> ImageLayers:
        """The layers of an image for one platform ("OS/ARCHITECTURE"), from its manifest alone (no
        configuration read). A multi-platform index (OCI index or Docker manifest list) is followed
        to the platform's manifest; RegistryError naming the platforms it has when there is none."""
        name, ref = parse_reference(reference)
        shown = reference_text(name, ref)
        document, digest, media_type = self._manifest_document(name, ref, shown, INDEX_ACCEPT)
        if media_type in (OCI_INDEX, DOCKER_MANIFEST_LIST) or "manifests" in document:
            entry = _platform_entry(document, platform, f"image {shown} in {self.base_url}")
            digest = entry["digest"]
            _check_digest(digest)
            document, _, media_type = self._manifest_document(name, digest, f"{name}@{digest}", MANIFEST_ACCEPT)
            if media_type in (OCI_INDEX, DOCKER_MANIFEST_LIST) or "manifests" in document:
                raise RegistryError(f"image {shown} in {self.base_url}: its {platform} entry is another "
                                    "index; nested indexes are not followed")
        try:
            layers = tuple(LayerRef(l["digest"], int(l["size"]), l["mediaType"]) for l in document["layers"])
        except (KeyError, TypeError, ValueError):
            raise RegistryError(f"registry {self.base_url}: manifest of {shown} has no valid layer list") from None
        return ImageLayers(shown, digest, platform, layers)

    def _small_blob(self, name: str, digest: str, size: int) -> bytes:
        """A blob read into memory (configs), at most `size` bytes (its descriptor's), checked against its digest."""
        _check_digest(digest)
        conn, response = self._open("GET", f"/v2/{name}/blobs/{digest}", follow_redirects=True)
        if response.status != 200:
            detail = _registry_message(self._read_error(conn, response))
            raise RegistryError(f"registry {self.base_url}: blob {name}@{digest}: {response.status} "
                                f"{response.reason}" + (f" ({detail})" if detail else ""))
        data = self._read(conn, response, size, f"blob {name}@{digest}")
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise DigestMismatch(f"blob {name}@{digest} from {self.base_url}: its bytes hash to {actual}")
        return data

    def fetch_blob(self, name: str, digest: str, dest: Path, size: int | None = None) -> int:
        """Stream a blob into `dest`, hashing as it comes; returns the bytes written. The bytes go
        to a temporary file beside `dest`, renamed to `dest` only once they match `digest`: on a
        mismatch nothing is left and DigestMismatch is raised. `size`, the descriptor's: a blob
        announced larger is not read, and the download stops as soon as more arrives (TooLarge)."""
        _check_digest(digest)
        dest = Path(dest)
        what = f"blob {name}@{digest}"
        conn, response = self._open("GET", f"/v2/{name}/blobs/{digest}", follow_redirects=True)
        try:
            if response.status == 404:
                raise RegistryError(f"blob {name}@{digest} not found in registry {self.base_url} "
                                    f"({_registry_message(response.read(MAX_ERROR_BYTES))})")
            if response.status != 200:
                raise RegistryError(f"registry {self.base_url}: blob {name}@{digest}: {response.status} "
                                    f"{response.reason} ({_registry_message(response.read(MAX_ERROR_BYTES))})")
            announced = response.getheader("Content-Length")
            if size is not None and announced and announced.isdigit() and int(announced) > size:
                raise TooLarge(f"registry {self.base_url}: {what} is announced as {int(announced):,} bytes; "
                               f"its descriptor says {size:,}")
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.part-")
            complete = False
            try:
                hasher, written = hashlib.sha256(), 0
                with os.fdopen(fd, "wb") as out:
                    os.fchmod(out.fileno(), 0o644)  # as an ordinary new file, not mkstemp's 0600
                    while chunk := self._read_chunk(response, what, CHUNK if size is None else min(CHUNK, size - written + 1)):
                        written += len(chunk)
                        if size is not None and written > size:
                            raise TooLarge(f"registry {self.base_url}: {what}: more than the {size:,} bytes its "
                                           "descriptor says; the download was stopped")
                        hasher.update(chunk)
                        out.write(chunk)
                announced = response.getheader("Content-Length")
                if announced and written < int(announced):  # http.client returns a cut body silently
                    raise RegistryUnavailable(f"registry {self.base_url}: blob {name}@{digest}: connection "
                                              f"closed after {written} of {announced} bytes")
                actual = "sha256:" + hasher.hexdigest()
                if actual != digest:
                    dest.unlink(missing_ok=True)
                    raise DigestMismatch(f"blob {name}@{digest} from {self.base_url}: the {written} bytes "
                                         f"received hash to {actual}, not {digest}")
                os.replace(tmp, dest)
                complete = True
            finally:
                if not complete:
                    Path(tmp).unlink(missing_ok=True)
        finally:
            conn.close()
        return written

    def _read_chunk(self, response: http.client.HTTPResponse, what: str, amount: int = CHUNK) -> bytes:
        try:
            return response.read(amount)
        except (OSError, http.client.HTTPException) as exc:
            raise RegistryUnavailable(f"registry {self.base_url}: {what}: connection lost during the "
                                      f"download: {exc or type(exc).__name__}") from exc

    def has_blob(self, name: str, digest: str) -> bool:
        """True if the repository `name` holds the blob (blobs are linked per repository)."""
        _check_digest(digest)
        response, _ = self._call("HEAD", f"/v2/{name}/blobs/{digest}", expect=(200, 404),
                                 what=f"HEAD blob {name}@{digest}", follow_redirects=True)
        return response.status == 200

    def catalog(self) -> list[str]:
        """Every repository of the registry (following pagination)."""
        names, url = [], "/v2/_catalog?n=1000"
        while url:
            response, data = self._call("GET", url, expect=(200,), what="catalog")
            names.extend(json.loads(data).get("repositories") or [])
            url = _next_link(response.getheader("Link"))
        return names

    def tags(self, name: str) -> list[str]:
        parse_reference(name)
        conn, response = self._open("GET", f"/v2/{name}/tags/list")
        data = self._read(conn, response)
        if response.status == 404:
            raise ImageNotFound(f"image {name} not found in registry {self.base_url}")
        if response.status != 200:
            raise RegistryError(f"registry {self.base_url}: tags of {name}: {response.status} {response.reason} "
                                f"({_registry_message(data)})")
        return json.loads(data).get("tags") or []

    # -- writing

    def push_blob(self, name: str, digest: str, path: Path) -> None:
        """Upload the file at `path` as blob `digest` of `name` (POST, then one PUT streamed from
        the file); the registry refuses it if the bytes do not hash to `digest`."""
        _check_digest(digest)
        response, _ = self._call("POST", f"/v2/{name}/blobs/uploads/", expect=(202,),
                                 what=f"start upload of {name}@{digest}")
        self._finish_upload(response.getheader("Location"), name, digest, Path(path))

    def _finish_upload(self, location: str | None, name: str, digest: str, path: Path) -> None:
        if not location:
            raise RegistryError(f"registry {self.base_url}: upload of {name}@{digest} started without a Location")
        url = location + ("&" if "?" in location else "?") + urlencode({"digest": digest})
        with open(path, "rb") as body:
            self._call("PUT", url, expect=(201,), what=f"upload of {name}@{digest} from {path}", body=body,
                       headers={"Content-Type": "application/octet-stream",
                                "Content-Length": str(os.fstat(body.fileno()).st_size)})

    def _mount_or_push_blob(self, name: str, digest: str, path: Path, mount_from: str) -> bool:
        """Link a blob the registry holds in repository `mount_from` into `name` (no bytes sent);
        if the registry will not, upload it. True if mounted."""
        query = urlencode({"mount": digest, "from": mount_from})
        response, _ = self._call("POST", f"/v2/{name}/blobs/uploads/?{query}", expect=(201, 202),
                                 what=f"mount {digest} from {mount_from} into {name}")
        if response.status == 201:
            return True
        self._finish_upload(response.getheader("Location"), name, digest, path)  # 202: a plain upload began
        return False

    def push_manifest(self, name: str, tag: str, body: bytes, media_type: str) -> str:
        """PUT a manifest under `tag`; returns its digest (checked against the registry's)."""
        parse_reference(f"{name}:{tag}")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        response, _ = self._call("PUT", f"/v2/{name}/manifests/{quote(tag)}", expect=(201,),
                                 what=f"manifest {name}:{tag}", body=body, headers={"Content-Type": media_type})
        stored = response.getheader("Docker-Content-Digest")
        if stored and stored != digest:
            raise DigestMismatch(f"manifest {name}:{tag} pushed to {self.base_url}: registry stored {stored}, "
                                 f"the bytes sent hash to {digest}")
        return digest

    def push_image(self, layout: Path, reference: str) -> PushReport:
        """Push one image of an OCI layout (found by its ref.name annotation, "name:tag"): the
        blobs the repository lacks (HEAD first), then the manifest."""
        return self._push_image(Layout(Path(layout)), reference, owners={})

    def _push_image(self, layout: Layout, reference: str, owners: dict[str, str]) -> PushReport:
        """push_image, mounting blobs listed in `owners` (digest -> repository that has it)."""
        name, tag = parse_reference(reference)
        entry = layout.find(f"{name}:{tag}")
        manifest_bytes = layout.read_blob(entry["digest"])
        manifest = json.loads(manifest_bytes)
        pushed = skipped = mounted = sent = 0
        for blob in _unique_blobs(manifest):
            digest, path = blob["digest"], layout.blob_path(blob["digest"])
            if self.has_blob(name, digest):
                skipped += 1
            elif owners.get(digest, name) != name and self._mount_or_push_blob(name, digest, path, owners[digest]):
                mounted += 1
            else:  # uploaded, by push_blob or by a mount the registry turned into an upload
                if owners.get(digest, name) == name:
                    self.push_blob(name, digest, path)
                pushed += 1
                sent += blob["size"]
        self.push_manifest(name, tag, manifest_bytes, manifest.get("mediaType") or entry["mediaType"])
        return PushReport(pushed, skipped, sent, mounted)


def _unique_blobs(manifest: dict) -> list[dict]:
    """The config and layer descriptors of a manifest, each digest once (an image may repeat a layer)."""
    seen, blobs = set(), []
    for blob in [manifest["config"], *manifest["layers"]]:
        if blob["digest"] not in seen:
            seen.add(blob["digest"])
            blobs.append(blob)
    return blobs


def _platform_entry(index: dict, platform: str, what: str) -> dict:
    """The first manifest of an index made for `platform` ("OS/ARCHITECTURE"; attestation entries,
    whose platform is unknown/unknown, never match)."""
    entries = index.get("manifests")
    if not isinstance(entries, list):
        raise RegistryError(f"{what}: an index without a manifest list")
    platforms = []
    for entry in entries:
        declared = entry.get("platform") if isinstance(entry, dict) else None
        if not isinstance(declared, dict):
            continue
        platforms.append(f"{declared.get('os')}/{declared.get('architecture')}")
        if platforms[-1] == platform and isinstance(entry.get("digest"), str):
            return entry
    raise RegistryError(f"{what} has no {platform} manifest (it has: {', '.join(platforms) or 'none'})")


def _next_link(link: str | None) -> str | None:
    """The URL of a `Link: <url>; rel="next"` header (catalog pagination)."""
    if link and 'rel="next"' in link:
        return link[link.index("<") + 1:link.index(">")]
    return None


def push_all(layout: Path, base_url: str, *, parallel: int = 4, progress: Callable[[str], None] = print,
             names: Collection[str] | None = None, credentials: Credentials | None = None) -> PushReport:
    """Push every image of an OCI layout (or those named in `names`), each blob uploaded once even
    when images share it.

    First every distinct blob is uploaded (in parallel) into the first repository that uses it;
    then each image's manifest is pushed, its other blobs mounted from where they already are.
    `credentials`: the registry's push credentials (a registry started by Strata refuses writes without).
    """
    client = RegistryClient(base_url, credentials=credentials)
    oci_layout = Layout(Path(layout))
    references = [entry["annotations"][REF_NAME] for entry in oci_layout.index()
                  if entry.get("annotations", {}).get(REF_NAME)]
    if names is not None:
        wanted = {"{}:{}".format(*parse_reference(name)) for name in names}
        missing = wanted - set(references)
        if missing:
            raise ValueError(f"not in the image cache {layout}: {', '.join(sorted(missing))}")
        references = [r for r in references if r in wanted]
    owners: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for reference in references:
        name, _ = parse_reference(reference)
        for blob in _unique_blobs(oci_layout.read_json(oci_layout.find(reference)["digest"])):
            owners.setdefault(blob["digest"], name)
            sizes[blob["digest"]] = blob["size"]
    started = time.monotonic()
    progress(f"pushing {len(references)} images ({len(owners)} distinct blobs, "
             f"{sum(sizes.values()) / 1e6:.1f} MB) to {base_url}")
    done = {"blobs": 0, "bytes": 0, "pushed": 0, "next": time.monotonic() + 2.0}
    lock = threading.Lock()

    def push_distinct(digest: str) -> None:
        uploaded = not client.has_blob(owners[digest], digest)
        if uploaded:
            client.push_blob(owners[digest], digest, oci_layout.blob_path(digest))
        with lock:
            done["blobs"] += 1
            done["pushed"] += uploaded
            done["bytes"] += sizes[digest] if uploaded else 0
            if time.monotonic() >= done["next"]:
                done["next"] = time.monotonic() + 2.0
                progress(f"  {done['blobs']}/{len(owners)} blobs checked, {done['pushed']} uploaded "
                         f"({done['bytes'] / 1e6:.1f} MB, {time.monotonic() - started:.0f} s)")

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(push_distinct, owners))
        # Every blob is now in its owner repository: images only mount, or find their blobs there.
        images = sum(pool.map(lambda reference: client._push_image(oci_layout, reference, owners), references),
                     PushReport(0, 0, 0))
    # Each blob uploaded above is found again (skipped) by the image of its owner repository.
    total = PushReport(done["pushed"] + images.blobs_pushed, images.blobs_skipped - done["pushed"],
                       done["bytes"] + images.bytes_pushed, images.blobs_mounted)
    progress(f"pushed {len(references)} images: {total.blobs_pushed} blobs uploaded "
             f"({total.bytes_pushed / 1e6:.1f} MB), {total.blobs_mounted} mounted, {total.blobs_skipped} "
             f"already there, {time.monotonic() - started:.1f} s")
    return total
