"""The S3 backend: objects in a bucket under a prefix, through boto3.

Works with AWS S3 and S3-compatible servers (MinIO, Ceph radosgw, rclone ``serve s3``)
given ``endpoint_url``. Design points:

* ``put`` streams through boto3's managed transfer with a bounded configuration:
  objects below the part size go up in one ``PutObject``, larger ones as a multipart
  upload, at most :data:`MAX_CONCURRENCY` parts at a time and
  :data:`MAX_IN_MEMORY_PARTS` read ahead. The part size is ``part_size`` (default
  :data:`PART_SIZE`, 8 MiB) when the object's size is known (given, or a seekable
  source's) and 10,000 such parts hold it, else the smallest whole MiB that does; of a
  stream of unknown size, twice ``part_size`` (at most 156.25 GiB by default). Peak
  memory of one ``put`` is about ``(MAX_IN_MEMORY_PARTS + 2)`` parts (32 MiB at 8 MiB)
  whatever the object's size.
  S3 makes an object visible only when ``PutObject`` or ``CompleteMultipartUpload``
  succeeds, so readers never see a partial object; a failed multipart upload is
  aborted.
* Checksums are computed and validated only when an operation requires them
  (``when_required``): several S3-compatible servers answer ranged GETs with the
  whole-object checksum, which recent botocore would reject.
* botocore errors become helgenom errors: a missing object :class:`NotFoundError`,
  an unreachable endpoint :class:`StorageUnavailableError`, a missing bucket or bad
  credentials :class:`ConfigurationError`. No message contains the secret key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO, NoReturn
from urllib.parse import urlsplit, urlunsplit

import boto3  # type: ignore[import-untyped, unused-ignore]
from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped, unused-ignore]
from botocore import exceptions as boto_errors  # type: ignore[import-untyped, unused-ignore]
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

from helgenom.adapters.objectstore.base import (
    CHUNK_SIZE,
    ObjectInfo,
    ObjectStore,
    check_key,
    check_range,
    remaining_bytes,
)
from helgenom.core.errors import (
    ConfigurationError,
    HelgenomError,
    InvalidInputError,
    NotFoundError,
    StorageUnavailableError,
)

MiB = 1 << 20

PART_SIZE = 8 * MiB
"""Size of each part of a multipart upload of known size (the least; see the module doc),
and the single-request threshold."""

STREAM_PART_SIZE = 2 * PART_SIZE
"""Part size of a stream of unknown size (twice ``part_size``; this with the default)."""

MAX_CONCURRENCY = 2
"""Parts uploaded at the same time by one ``put``."""

MAX_IN_MEMORY_PARTS = 2
"""Parts read from the source and not yet uploaded (bounds ``put``'s memory)."""

MAX_PARTS = 10_000
"""S3's limit on the parts of one multipart upload."""

MIN_PART_SIZE = 5 * MiB
"""S3's smallest part (but the last)."""

MAX_PART_SIZE = 5 * 1024 * MiB
"""S3's largest part."""

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for a TCP/TLS connection."""

READ_TIMEOUT = 60.0
"""Seconds to wait for the server between bytes of an answer."""

MAX_ATTEMPTS = 5
"""Attempts per request (botocore "standard" retries, with backoff) before giving up."""

_BUCKET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$")

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
_UNAVAILABLE_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "503",
        "500",
    }
)


class S3Store(ObjectStore):
    """Objects under ``prefix/`` in an S3 bucket.

    Credentials not given fall back to boto3's usual chain (``AWS_ACCESS_KEY_ID`` and
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, instance roles ...).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        region: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
        list_page_size: int = 1000,
        part_size: int = PART_SIZE,
    ) -> None:
        if not _BUCKET_RE.match(bucket):
            raise ConfigurationError(
                f"S3 bucket name {bucket!r} is not valid: use letters, digits, '.', '_' or '-'"
            )
        prefix = prefix.strip("/")
        if prefix:
            try:
                check_key(prefix)
            except InvalidInputError:
                raise ConfigurationError(
                    f"S3 prefix {prefix!r} is not valid: use '/'-separated names of letters, "
                    "digits, '.', '_' or '-'"
                ) from None
        if part_size < MIN_PART_SIZE:
            raise ConfigurationError(
                f"S3 part size {part_size} is too small: use at least {MIN_PART_SIZE} bytes"
            )
        if (access_key_id is None) != (secret_access_key is None):
            raise ConfigurationError(
                "S3 credentials are incomplete: give both the access key id and the secret "
                "access key, or neither to use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        if endpoint_url is not None and urlsplit(endpoint_url).scheme not in ("http", "https"):
            raise ConfigurationError(
                f"S3 endpoint {_redact(endpoint_url)!r} is not valid: use http(s)://HOST[:PORT]"
            )
        self.bucket = bucket
        self.prefix = prefix
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        self._base = f"{prefix}/" if prefix else ""
        self._page_size = list_page_size
        self._read_timeout = read_timeout
        self._part_size = part_size
        self._bucket_seen = False
        config = Config(
            signature_version="s3v4",
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            max_pool_connections=max(10, 2 * MAX_CONCURRENCY),
            tcp_keepalive=True,
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            user_agent_extra="helgenom",
        )
        try:
            session = boto3.session.Session()
            self._client: Any = session.client(
                "s3",
                endpoint_url=endpoint_url,
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                region_name=region,
                config=config,
            )
        except (boto_errors.BotoCoreError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot set up object store {self.url}: {type(exc).__name__}: {exc}"
            ) from None
        self.endpoint = _redact(str(self._client.meta.endpoint_url))
        self._access_key_id = access_key_id

    def __repr__(self) -> str:
        return f"S3Store({self.url}, endpoint={self.endpoint})"

    @staticmethod
    def _transfer_config(part: int) -> Any:
        transfer = TransferConfig(
            multipart_threshold=part,
            multipart_chunksize=part,
            max_concurrency=MAX_CONCURRENCY,
            use_threads=True,
            preferred_transfer_client="classic",
        )
        # Not a boto3 argument; s3transfer reads it to bound the parts held in memory.
        transfer.max_in_memory_upload_chunks = MAX_IN_MEMORY_PARTS
        return transfer

    def _name(self, key: str) -> str:
        return self._base + check_key(key)

    # -- writing ---------------------------------------------------------------------

    def put(self, key: str, source: BinaryIO, size: int | None = None) -> int:
        name = self._name(key)
        if size is None:
            size = remaining_bytes(source)
        part = self._part_size if size is not None else 2 * self._part_size
        if size is not None and size > part * MAX_PARTS:
            need = -(-size // MAX_PARTS)  # the smallest part that 10,000 parts hold it in
            part = min(-(-need // MiB) * MiB, MAX_PART_SIZE)
        reader = _CountingReader(source, part * MAX_PARTS)
        try:
            self._client.upload_fileobj(
                reader, self.bucket, name, Config=self._transfer_config(part)
            )
        except Exception as exc:
            if reader.error is not None:
                # The source failed; the transfer was abandoned (a multipart upload aborted).
                if isinstance(reader.error, _TooLargeError):
                    raise InvalidInputError(
                        f"object {key} is larger than {part * MAX_PARTS / (1 << 30):g} GiB, the "
                        f"most one upload to {self.url} can stream"
                    ) from None
                if isinstance(reader.error, OSError):
                    raise StorageUnavailableError(
                        f"cannot write object {key} to {self.url}: reading the source failed "
                        f"({reader.error.strerror or reader.error}); nothing was stored"
                    ) from reader.error
                raise reader.error from None
            self._fail(exc, key, "write")
        return reader.count

    # -- reading ---------------------------------------------------------------------

    def iter_chunks(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        name = self._name(key)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=name)
        except Exception as exc:
            self._fail(exc, key, "read")
        body = response["Body"]
        try:
            for chunk in body.iter_chunks(chunk_size):
                yield bytes(chunk)
        except boto_errors.BotoCoreError as exc:
            self._fail(exc, key, "read")
        finally:
            body.close()

    def get_range(self, key: str, start: int, end: int) -> bytes:
        check_range(start, end)
        name = self._name(key)
        if start == end:
            self.head(key)  # NotFoundError for a missing object, as for other ranges
            return b""
        try:
            response = self._client.get_object(
                Bucket=self.bucket, Key=name, Range=f"bytes={start}-{end - 1}"
            )
        except Exception as exc:
            if _status(exc) == 416 or _code(exc) == "InvalidRange":
                return b""  # the object exists and ends at or before ``start``
            self._fail(exc, key, "read")
        body = response["Body"]
        try:
            content_range = str(response.get("ContentRange") or "")
            match = re.match(r"bytes (\d+)-", content_range)
            if match and int(match.group(1)) == start:
                return bytes(body.read(end - start))
            # The server ignored the range and sends the object from its start.
            return bytes(body.read(end))[start:end]
        except boto_errors.BotoCoreError as exc:
            self._fail(exc, key, "read")
        finally:
            body.close()

    def head(self, key: str) -> ObjectInfo:
        name = self._name(key)
        try:
            response = self._client.head_object(Bucket=self.bucket, Key=name)
        except Exception as exc:
            self._fail_head(exc, key)
        self._bucket_seen = True
        return ObjectInfo(key, int(response["ContentLength"]))

    def delete(self, key: str) -> None:
        # S3 deletes a missing key without complaint: look first.
        self.head(key)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._name(key))
        except Exception as exc:
            self._fail(exc, key, "delete")

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket,
            Prefix=self._base + prefix,
            PaginationConfig={"PageSize": self._page_size},
        )
        skip = len(self._base)
        try:
            for page in pages:
                self._bucket_seen = True
                for item in page.get("Contents", ()):
                    name = str(item["Key"])
                    if name.endswith("/"):
                        continue  # a "folder" marker made by some consoles, not an object
                    yield ObjectInfo(name[skip:], int(item["Size"]))
        except Exception as exc:
            self._fail(exc, None, "list")

    def close(self) -> None:
        self._client.close()

    # -- errors ----------------------------------------------------------------------

    def _fail_head(self, exc: Exception, key: str) -> NoReturn:
        """Map a HEAD failure; HEAD answers carry no error code, only a status."""
        status = _status(exc)
        if status == 404:
            if not self._bucket_seen:
                self._check_bucket()
            raise NotFoundError(f"object {key} is missing from {self.url}") from None
        if status in (400, 401, 403):
            # Ask again with a request whose answer names the problem.
            try:
                self._client.list_objects_v2(Bucket=self.bucket, Prefix=self._base, MaxKeys=1)
            except Exception as probe:
                if _code(probe) not in ("", "AccessDenied"):
                    self._fail(probe, key, "read")
        self._fail(exc, key, "read")

    def _check_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            if _status(exc) == 404:
                raise self._no_bucket() from None
            self._fail(exc, None, "read")
        self._bucket_seen = True

    def _no_bucket(self) -> ConfigurationError:
        return ConfigurationError(
            f"bucket {self.bucket!r} does not exist at {self.endpoint}: create it (for example "
            f"`aws s3 mb s3://{self.bucket}`, or in the storage provider's console) or fix the "
            "object store URL"
        )

    def _fail(self, exc: Exception, key: str | None, action: str) -> NoReturn:
        """Raise the helgenom error for a boto3/botocore failure; re-raise anything else."""
        what = f"object {key} in {self.url}" if key else self.url
        if isinstance(exc, HelgenomError):
            raise exc
        if isinstance(exc, boto_errors.ClientError):
            code, status = _code(exc), _status(exc)
            if code in _NOT_FOUND_CODES and key is not None:
                raise NotFoundError(f"object {key} is missing from {self.url}") from None
            if code == "NoSuchBucket" or (code == "404" and key is None):
                raise self._no_bucket() from None
            if code == "InvalidAccessKeyId":
                raise ConfigurationError(
                    f"{self.endpoint} does not know the access key id {self._key_hint()} of "
                    f"object store {self.url}: check the access key id"
                ) from None
            if code == "SignatureDoesNotMatch":
                raise ConfigurationError(
                    f"{self.endpoint} rejected the secret access key for access key id "
                    f"{self._key_hint()} of object store {self.url}: check the secret access key"
                ) from None
            if code in ("ExpiredToken", "TokenRefreshRequired", "InvalidToken"):
                raise ConfigurationError(
                    f"the S3 session token for {self.url} is expired or invalid ({code}): "
                    "renew the credentials"
                ) from None
            if code in ("AccessDenied", "AllAccessDisabled", "AccountProblem") or status in (
                401,
                403,
            ):
                raise ConfigurationError(
                    f"{self.endpoint} denied access to {what} to access key id "
                    f"{self._key_hint()} ({code or status}): check the access key id, the "
                    "secret access key and the bucket's policy"
                ) from None
            if code == "RequestTimeTooSkewed":
                raise ConfigurationError(
                    f"{self.endpoint} rejected requests for {self.url} because this machine's "
                    "clock is off: synchronise the system clock (NTP)"
                ) from None
            if code in ("AuthorizationHeaderMalformed", "PermanentRedirect") or status == 301:
                raise ConfigurationError(
                    f"bucket {self.bucket!r} at {self.endpoint} is in another region "
                    f"({code or status}): set the object store's region"
                ) from None
            if code in _UNAVAILABLE_CODES or (status is not None and status >= 500):
                raise StorageUnavailableError(
                    f"object store {self.url} at {self.endpoint} could not {action} {what} "
                    f"({code or status}): try again later"
                ) from None
            raise StorageUnavailableError(
                f"object store {self.url} at {self.endpoint} refused to {action} {what}: "
                f"{code or status}"
            ) from None
        if isinstance(exc, boto_errors.NoCredentialsError | boto_errors.PartialCredentialsError):
            raise ConfigurationError(
                f"no S3 credentials for object store {self.url}: configure the access key id "
                "and secret access key, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            ) from None
        if isinstance(exc, boto_errors.ConnectTimeoutError):
            reason = "the connection timed out"
        elif isinstance(exc, boto_errors.ReadTimeoutError):
            reason = f"no answer within {self._read_timeout:g} s"
        elif isinstance(exc, boto_errors.SSLError):
            reason = "the TLS handshake failed (check the server certificate)"
        elif isinstance(exc, boto_errors.EndpointConnectionError):
            reason = "cannot connect"
        elif isinstance(exc, boto_errors.ConnectionClosedError):
            reason = "the server closed the connection"
        elif isinstance(exc, boto_errors.ResponseStreamingError | boto_errors.IncompleteReadError):
            reason = "the connection broke while reading"
        elif isinstance(exc, boto_errors.HTTPClientError | boto_errors.ConnectionError):
            reason = type(exc).__name__
        elif isinstance(exc, boto_errors.BotoCoreError | boto3.exceptions.Boto3Error):
            raise StorageUnavailableError(
                f"object store {self.url} could not {action} {what}: {type(exc).__name__}: {exc}"
            ) from exc
        else:
            raise exc
        raise StorageUnavailableError(
            f"object store {self.url} is unreachable at {self.endpoint}: {reason}; check that "
            "the server is running and the endpoint URL and network are right"
        ) from exc

    def _key_hint(self) -> str:
        """The access key id, shortened (the secret is never shown)."""
        key_id = self._access_key_id
        if key_id is None:
            return "(from the environment)"
        return f"{key_id[:4]}…" if len(key_id) > 8 else "(given)"


class _TooLargeError(Exception):
    """The source is larger than one streamed upload can hold."""


class _CountingReader:
    """Reads ``source`` to its end in full-size pieces, counting bytes and keeping errors.

    Deliberately not seekable: boto3 then reads each part once, in order, into memory,
    so the count is exact and a short read from a pipe never makes a short part.
    """

    def __init__(self, source: BinaryIO, limit: int) -> None:
        self._source = source
        self._limit = limit
        self.count = 0
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int | None = -1) -> bytes:
        try:
            if size is None or size < 0:
                pieces = []
                while piece := self._source.read(CHUNK_SIZE):
                    pieces.append(piece)
                    self._add(len(piece))
                return b"".join(pieces)
            first = self._source.read(size)
            self._add(len(first))
            if len(first) >= size or not first:
                return first
            pieces = [first]  # a short read (pipe, socket): fill the part
            missing = size - len(first)
            while missing > 0:
                piece = self._source.read(missing)
                if not piece:
                    break
                pieces.append(piece)
                self._add(len(piece))
                missing -= len(piece)
            return b"".join(pieces)
        except BaseException as exc:
            if self.error is None:
                self.error = exc
            raise

    def _add(self, n: int) -> None:
        self.count += n
        if self.count > self._limit:
            raise _TooLargeError


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def _redact(url: str) -> str:
    """``url`` without any user:password part."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
