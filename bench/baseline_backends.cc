// Redis and memcached clients for engram-bench, written against the wire
// protocols directly (RESP2 and the memcached text protocol) so the baseline
// pays no client-library overhead that engram's own client does not pay
// either.
//
// Each BenchBackend owns one TCP connection. A Fetch is one round trip: the
// whole request (Redis: one MGET; memcached: `get` commands, pipelined) is
// built in a reused buffer and sent with one write, and the reply is parsed
// out of a large reused read buffer straight into the caller's rows. After
// any I/O or protocol error the connection is dropped, so a later Fetch
// starts from a clean stream instead of mis-parsing a half-read reply.
#include "bench/baseline_backends.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace engram::bench {
namespace {

// Socket buffer sizes and the read buffer: a 4096-row MGET reply of 128-byte
// rows is ~560 KB, so a few large reads carry it.
constexpr int kSocketBufferBytes = 4 << 20;
constexpr size_t kReadBufferBytes = 1 << 20;
// A store that stops answering fails the Fetch instead of hanging a worker
// (and with it the whole run) forever.
constexpr int kIoTimeoutSeconds = 30;
constexpr int kConnectTimeoutSeconds = 5;
// Rows per write while populating: Redis gets one MSET of this many pairs.
constexpr uint64_t kRedisPopulateChunk = 4096;
// memcached answers every `set` with a line; the replies of one chunk must
// fit in the socket buffers, as nothing reads them until the chunk is sent.
constexpr uint64_t kMemcachedPopulateChunk = 1024;
// Keys per memcached `get` command. memcached 1.6 accepts arbitrarily long
// multi-get lines (it grows its read buffer for them; 1.6.18 answers 100k
// keys in one line), so engram-bench's 4096-row batch is one command, as a
// real multi-get client would send it. Bigger batches are split into several
// `get`s pipelined in the same write, which bounds the line length for
// proxies and older servers at no round-trip cost.
constexpr size_t kMemcachedKeysPerGet = 4096;
// Progress lines while populating tables at least this big.
constexpr uint64_t kProgressMinRows = 1 << 18;

constexpr absl::string_view kKeyPrefix = "r:";

// Parsed "host:port"; host may be a name, an IPv4 or a [bracketed] IPv6.
struct HostPort {
  std::string host;
  std::string port;
};

absl::StatusOr<HostPort> ParseAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", address, "' is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') {
      return absl::InvalidArgumentError(
          absl::StrCat("address '", address, "' has a malformed [IPv6] host"));
    }
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "address '", address, "': write IPv6 hosts as [addr]:port"));
  }
  const std::string port = address.substr(colon + 1);
  uint32_t port_number = 0;
  if (!absl::SimpleAtoi(port, &port_number) || port_number == 0 ||
      port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", address, "' has an invalid port"));
  }
  return HostPort{std::move(host), port};
}

absl::Status ErrnoError(const std::string& what, const std::string& address,
                        int error) {
  return absl::UnavailableError(
      absl::StrCat(what, " ", address, ": ", std::strerror(error)));
}

// Appends "r:<id>" to `out`.
void AppendKey(uint64_t id, std::string& out) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), id);
  out.append(kKeyPrefix.data(), kKeyPrefix.size());
  out.append(digits, end);
}

std::string KeyName(uint64_t id) {
  std::string key;
  AppendKey(id, key);
  return key;
}

void AppendDecimal(uint64_t value, std::string& out) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, end);
}

// Parses a decimal (optionally negative) integer that fills all of `text`.
bool ParseInt(absl::string_view text, int64_t& value) {
  const auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

// One blocking TCP connection with a buffered reader.
//
// Invariant: buffer_[read_pos_, read_end_) holds received bytes not yet
// consumed. Any error leaves the Connection unusable; the owner drops it.
class Connection {
 public:
  static absl::StatusOr<std::unique_ptr<Connection>> Open(
      const std::string& address) {
    ENGRAM_ASSIGN_OR_RETURN(HostPort host_port, ParseAddress(address));
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* resolved = nullptr;
    if (const int rc = getaddrinfo(host_port.host.c_str(),
                                   host_port.port.c_str(), &hints, &resolved);
        rc != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot resolve ", address, ": ", gai_strerror(rc)));
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(resolved,
                                                             &freeaddrinfo);
    absl::Status last_error =
        absl::UnavailableError(absl::StrCat("no addresses for ", address));
    for (const addrinfo* ai = resolved; ai != nullptr; ai = ai->ai_next) {
      absl::StatusOr<int> fd = ConnectOne(*ai, address);
      if (fd.ok())
        return std::unique_ptr<Connection>(new Connection(*fd, address));
      last_error = fd.status();
    }
    return last_error;
  }

  ~Connection() { close(fd_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  absl::Status WriteAll(absl::string_view data) {
    while (!data.empty()) {
      const ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return TimedOut("send");
        return ErrnoError("cannot send to", address_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  // Returns the next line without its "\r\n"; valid until the next read.
  absl::StatusOr<absl::string_view> ReadLine() {
    size_t scanned = read_pos_;
    while (true) {
      const char* begin = buffer_.data();
      const void* nl = std::memchr(begin + scanned, '\n', read_end_ - scanned);
      if (nl != nullptr) {
        const size_t end = static_cast<const char*>(nl) - begin;
        if (end == read_pos_ || begin[end - 1] != '\r') {
          return absl::InternalError(
              absl::StrCat("malformed reply line from ", address_));
        }
        absl::string_view line(begin + read_pos_, end - 1 - read_pos_);
        read_pos_ = end + 1;
        return line;
      }
      scanned = read_end_ - read_pos_;  // Offset after Fill() compacts.
      ENGRAM_RETURN_IF_ERROR(Fill());
      scanned += read_pos_;
    }
  }

  // Copies the next `n` bytes into `out`.
  absl::Status ReadExact(char* out, size_t n) {
    while (n > 0) {
      if (read_pos_ == read_end_) ENGRAM_RETURN_IF_ERROR(Fill());
      const size_t take = std::min(n, read_end_ - read_pos_);
      std::memcpy(out, buffer_.data() + read_pos_, take);
      read_pos_ += take;
      out += take;
      n -= take;
    }
    return absl::OkStatus();
  }

  absl::Status Skip(size_t n) {
    while (n > 0) {
      if (read_pos_ == read_end_) ENGRAM_RETURN_IF_ERROR(Fill());
      const size_t take = std::min(n, read_end_ - read_pos_);
      read_pos_ += take;
      n -= take;
    }
    return absl::OkStatus();
  }

  // Consumes "\r\n", which ends every value in both protocols.
  absl::Status ExpectCrlf() {
    char crlf[2];
    ENGRAM_RETURN_IF_ERROR(ReadExact(crlf, 2));
    if (crlf[0] != '\r' || crlf[1] != '\n') {
      return absl::InternalError(
          absl::StrCat("value not followed by CRLF from ", address_));
    }
    return absl::OkStatus();
  }

  const std::string& address() const { return address_; }

 private:
  Connection(int fd, std::string address)
      : fd_(fd), address_(std::move(address)), buffer_(kReadBufferBytes) {}

  static absl::StatusOr<int> ConnectOne(const addrinfo& ai,
                                        const std::string& address) {
    const int fd =
        socket(ai.ai_family, ai.ai_socktype | SOCK_CLOEXEC, ai.ai_protocol);
    if (fd < 0) return ErrnoError("cannot create a socket for", address, errno);
    // Request and reply are each written whole, so Nagle only adds delay.
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kSocketBufferBytes,
               sizeof(kSocketBufferBytes));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kSocketBufferBytes,
               sizeof(kSocketBufferBytes));
    // SO_SNDTIMEO also bounds a blocking connect() on Linux (which then
    // fails with EINPROGRESS), so an address that drops SYNs fails in
    // seconds rather than after minutes of SYN retries.
    const timeval connect_timeout{kConnectTimeoutSeconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &connect_timeout,
               sizeof(connect_timeout));
    if (connect(fd, ai.ai_addr, ai.ai_addrlen) != 0) {
      const int error = errno == EINPROGRESS ? ETIMEDOUT : errno;
      close(fd);
      return ErrnoError("cannot connect to", address, error);
    }
    const timeval io_timeout{kIoTimeoutSeconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &io_timeout, sizeof(io_timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &io_timeout, sizeof(io_timeout));
    return fd;
  }

  absl::Status TimedOut(absl::string_view what) const {
    return absl::DeadlineExceededError(
        absl::StrCat("no ", what, " progress with ", address_, " in ",
                     kIoTimeoutSeconds, "s"));
  }

  // Reads at least one more byte, compacting the buffer first so a reply
  // larger than the buffer streams through it.
  absl::Status Fill() {
    if (read_pos_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + read_pos_,
                   read_end_ - read_pos_);
      read_end_ -= read_pos_;
      read_pos_ = 0;
    }
    if (read_end_ == buffer_.size()) {
      // A single line longer than the buffer: no reply we parse has one.
      return absl::InternalError(
          absl::StrCat("reply line too long from ", address_));
    }
    while (true) {
      const ssize_t n =
          recv(fd_, buffer_.data() + read_end_, buffer_.size() - read_end_, 0);
      if (n > 0) {
        read_end_ += static_cast<size_t>(n);
        return absl::OkStatus();
      }
      if (n == 0) {
        return absl::UnavailableError(
            absl::StrCat("connection closed by ", address_));
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return TimedOut("reply");
      return ErrnoError("cannot receive from", address_, errno);
    }
  }

  const int fd_;
  const std::string address_;
  std::vector<char> buffer_;
  size_t read_pos_ = 0;
  size_t read_end_ = 0;
};

// Common shape of the two clients: reconnect lazily after a failure.
class BaselineBackend : public BenchBackend {
 public:
  BaselineBackend(std::string address, uint32_t row_bytes)
      : address_(std::move(address)), row_bytes_(row_bytes) {}

  absl::Status Connect() {
    ENGRAM_ASSIGN_OR_RETURN(connection_, Connection::Open(address_));
    return absl::OkStatus();
  }

  absl::Status Fetch(absl::Span<const uint64_t> ids, char* out) final {
    if (ids.empty()) return absl::OkStatus();
    if (connection_ == nullptr) ENGRAM_RETURN_IF_ERROR(Connect());
    bool stream_ok = false;
    absl::Status status = DoFetch(ids, out, stream_ok);
    // Errors that leave the stream mid-reply (I/O, protocol) drop the
    // connection; a missing key is reported after its reply was consumed.
    if (!stream_ok) connection_.reset();
    return status;
  }

  // Writes rows [begin, end), which the caller chunks.
  virtual absl::Status Store(uint64_t begin, uint64_t end) = 0;

 protected:
  // Sets `stream_ok` when the whole reply was consumed, whatever the status.
  virtual absl::Status DoFetch(absl::Span<const uint64_t> ids, char* out,
                               bool& stream_ok) = 0;

  const std::string address_;
  const uint32_t row_bytes_;
  std::unique_ptr<Connection> connection_;
  // Reused across calls: request bytes, and one row for populating.
  std::string request_;
  std::vector<char> row_;
};

class RedisBackend final : public BaselineBackend {
 public:
  using BaselineBackend::BaselineBackend;

  absl::Status Store(uint64_t begin, uint64_t end) override {
    if (connection_ == nullptr) ENGRAM_RETURN_IF_ERROR(Connect());
    row_.resize(row_bytes_);
    request_.clear();
    AppendArrayHeader(1 + 2 * (end - begin));
    AppendBulk("MSET");
    std::string key;
    for (uint64_t id = begin; id < end; ++id) {
      key.clear();
      AppendKey(id, key);
      AppendBulk(key);
      FillBaselineRow(id, row_bytes_, row_.data());
      AppendBulk(absl::string_view(row_.data(), row_.size()));
    }
    absl::Status status = connection_->WriteAll(request_);
    absl::StatusOr<absl::string_view> reply =
        status.ok() ? connection_->ReadLine() : status;
    if (!reply.ok()) {
      connection_.reset();
      return reply.status();
    }
    if (*reply != "+OK") {
      const std::string text(*reply);
      connection_.reset();
      return absl::InternalError(
          absl::StrCat("redis ", address_, " MSET failed: ", text));
    }
    return absl::OkStatus();
  }

 protected:
  absl::Status DoFetch(absl::Span<const uint64_t> ids, char* out,
                       bool& stream_ok) override {
    request_.clear();
    AppendArrayHeader(1 + ids.size());
    AppendBulk("MGET");
    for (const uint64_t id : ids) {
      // "$<len>\r\nr:<id>\r\n" without a temporary per key.
      char digits[24];
      const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), id);
      const size_t len = kKeyPrefix.size() + (end - digits);
      request_.push_back('$');
      AppendDecimal(len, request_);
      request_.append("\r\n");
      request_.append(kKeyPrefix.data(), kKeyPrefix.size());
      request_.append(digits, end);
      request_.append("\r\n");
    }
    ENGRAM_RETURN_IF_ERROR(connection_->WriteAll(request_));

    ENGRAM_ASSIGN_OR_RETURN(absl::string_view header, connection_->ReadLine());
    int64_t count = 0;
    if (header.empty() || header[0] != '*' ||
        !ParseInt(header.substr(1), count)) {
      return ReplyError(header);
    }
    if (count != static_cast<int64_t>(ids.size())) {
      return absl::InternalError(absl::StrCat("redis ", address_, " answered ",
                                              count, " values for ", ids.size(),
                                              " keys"));
    }
    absl::Status missing;
    for (size_t i = 0; i < ids.size(); ++i) {
      ENGRAM_ASSIGN_OR_RETURN(absl::string_view line, connection_->ReadLine());
      int64_t len = 0;
      if (line.empty() || line[0] != '$' || !ParseInt(line.substr(1), len)) {
        return ReplyError(line);
      }
      if (len < 0) {
        if (missing.ok()) {
          missing = absl::NotFoundError(absl::StrCat(
              "redis ", address_, " has no key ", KeyName(ids[i])));
        }
        continue;
      }
      if (len != static_cast<int64_t>(row_bytes_)) {
        return absl::InternalError(
            absl::StrCat("redis ", address_, " key ", KeyName(ids[i]),
                         " holds ", len, " bytes; expected ", row_bytes_));
      }
      ENGRAM_RETURN_IF_ERROR(
          connection_->ReadExact(out + i * row_bytes_, row_bytes_));
      ENGRAM_RETURN_IF_ERROR(connection_->ExpectCrlf());
    }
    stream_ok = true;
    return missing;
  }

 private:
  void AppendArrayHeader(uint64_t count) {
    request_.push_back('*');
    AppendDecimal(count, request_);
    request_.append("\r\n");
  }

  void AppendBulk(absl::string_view value) {
    request_.push_back('$');
    AppendDecimal(value.size(), request_);
    request_.append("\r\n");
    request_.append(value.data(), value.size());
    request_.append("\r\n");
  }

  absl::Status ReplyError(absl::string_view line) const {
    return absl::InternalError(absl::StrCat(
        "unexpected reply from redis ", address_, ": ", line.substr(0, 200)));
  }
};

class MemcachedBackend final : public BaselineBackend {
 public:
  using BaselineBackend::BaselineBackend;

  absl::Status Store(uint64_t begin, uint64_t end) override {
    if (connection_ == nullptr) ENGRAM_RETURN_IF_ERROR(Connect());
    row_.resize(row_bytes_);
    request_.clear();
    for (uint64_t id = begin; id < end; ++id) {
      request_.append("set ");
      AppendKey(id, request_);
      request_.append(" 0 0 ");
      AppendDecimal(row_bytes_, request_);
      request_.append("\r\n");
      FillBaselineRow(id, row_bytes_, row_.data());
      request_.append(row_.data(), row_.size());
      request_.append("\r\n");
    }
    // Replies are read rather than suppressed with noreply, so an
    // out-of-memory or too-large item surfaces here, not as missing rows.
    absl::Status status = connection_->WriteAll(request_);
    for (uint64_t id = begin; status.ok() && id < end; ++id) {
      absl::StatusOr<absl::string_view> reply = connection_->ReadLine();
      if (!reply.ok()) {
        status = reply.status();
      } else if (*reply != "STORED") {
        status = absl::InternalError(
            absl::StrCat("memcached ", address_, " set ", KeyName(id),
                         " failed: ", reply->substr(0, 200)));
      }
    }
    if (!status.ok()) connection_.reset();
    return status;
  }

 protected:
  absl::Status DoFetch(absl::Span<const uint64_t> ids, char* out,
                       bool& stream_ok) override {
    request_.clear();
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i % kMemcachedKeysPerGet == 0) {
        if (i > 0) request_.append("\r\n");
        request_.append("get");
      }
      request_.push_back(' ');
      AppendKey(ids[i], request_);
    }
    request_.append("\r\n");
    ENGRAM_RETURN_IF_ERROR(connection_->WriteAll(request_));

    // memcached answers the keys of each `get` in order and leaves missing
    // ones out (duplicates are answered each time), so a cursor walking the
    // requested ids pairs every VALUE with its position; ids it passes over
    // were missing.
    absl::Status missing;
    const auto note_missing = [&](size_t position) {
      if (missing.ok()) {
        missing = absl::NotFoundError(absl::StrCat(
            "memcached ", address_, " has no key ", KeyName(ids[position])));
      }
    };
    size_t next = 0;
    for (size_t command_end = 0; command_end < ids.size();) {
      command_end = std::min(ids.size(), command_end + kMemcachedKeysPerGet);
      while (true) {
        ENGRAM_ASSIGN_OR_RETURN(absl::string_view line,
                                connection_->ReadLine());
        if (line == "END") break;
        uint64_t id = 0;
        int64_t bytes = 0;
        if (!ParseValueLine(line, id, bytes)) return ReplyError(line);
        while (next < command_end && ids[next] != id) note_missing(next++);
        if (next == command_end) {
          return absl::InternalError(absl::StrCat("memcached ", address_,
                                                  " returned unrequested key ",
                                                  KeyName(id)));
        }
        if (bytes != static_cast<int64_t>(row_bytes_)) {
          return absl::InternalError(
              absl::StrCat("memcached ", address_, " key ", KeyName(id),
                           " holds ", bytes, " bytes; expected ", row_bytes_));
        }
        ENGRAM_RETURN_IF_ERROR(
            connection_->ReadExact(out + next * row_bytes_, row_bytes_));
        ENGRAM_RETURN_IF_ERROR(connection_->ExpectCrlf());
        ++next;
      }
      while (next < command_end) note_missing(next++);
    }
    stream_ok = true;
    return missing;
  }

 private:
  // Parses "VALUE r:<id> <flags> <bytes>".
  static bool ParseValueLine(absl::string_view line, uint64_t& id,
                             int64_t& bytes) {
    constexpr absl::string_view kValue = "VALUE r:";
    if (line.substr(0, kValue.size()) != kValue) return false;
    line.remove_prefix(kValue.size());
    const char* end = line.data() + line.size();
    const auto [after_id, ec] = std::from_chars(line.data(), end, id);
    if (ec != std::errc() || after_id == end || *after_id != ' ') return false;
    line = absl::string_view(after_id + 1, end - after_id - 1);
    const size_t space = line.find(' ');  // Skips the flags.
    if (space == absl::string_view::npos) return false;
    return ParseInt(line.substr(space + 1), bytes);
  }

  absl::Status ReplyError(absl::string_view line) const {
    return absl::InternalError(absl::StrCat("unexpected reply from memcached ",
                                            address_, ": ",
                                            line.substr(0, 200)));
  }
};

absl::StatusOr<std::unique_ptr<BaselineBackend>> MakeBackend(
    BaselineKind kind, const std::string& address, uint32_t row_bytes) {
  std::unique_ptr<BaselineBackend> backend;
  if (kind == BaselineKind::kRedis) {
    backend = std::make_unique<RedisBackend>(address, row_bytes);
  } else {
    backend = std::make_unique<MemcachedBackend>(address, row_bytes);
  }
  ENGRAM_RETURN_IF_ERROR(backend->Connect());
  return backend;
}

const char* KindName(BaselineKind kind) {
  return kind == BaselineKind::kRedis ? "redis" : "memcached";
}

absl::Status Populate(BaselineKind kind, BaselineBackend& backend,
                      const std::string& address, TableShape shape) {
  const uint64_t chunk = kind == BaselineKind::kRedis ? kRedisPopulateChunk
                                                      : kMemcachedPopulateChunk;
  const bool report = shape.rows >= kProgressMinRows;
  uint64_t next_report = shape.rows / 10;
  for (uint64_t begin = 0; begin < shape.rows; begin += chunk) {
    const uint64_t end = std::min(shape.rows, begin + chunk);
    ENGRAM_RETURN_IF_ERROR(backend.Store(begin, end));
    if (report && end >= next_report) {
      std::fprintf(stderr, "populating %s %s: %llu/%llu rows\n", KindName(kind),
                   address.c_str(), static_cast<unsigned long long>(end),
                   static_cast<unsigned long long>(shape.rows));
      next_report += shape.rows / 10;
    }
  }
  return absl::OkStatus();
}

// Reads the first and last rows back, so a store that was never populated
// (or evicted rows) fails before the run rather than as millions of errors.
absl::Status Verify(BaselineBackend& backend, TableShape shape) {
  const uint64_t ids[2] = {0, shape.rows - 1};
  std::vector<char> got(2 * shape.row_bytes);
  std::vector<char> want(shape.row_bytes);
  if (absl::Status status = backend.Fetch(ids, got.data()); !status.ok()) {
    if (absl::IsNotFound(status)) {
      return absl::NotFoundError(
          absl::StrCat(status.message(), " (populate it with --populate)"));
    }
    return status;
  }
  for (int i = 0; i < 2; ++i) {
    FillBaselineRow(ids[i], shape.row_bytes, want.data());
    if (std::memcmp(got.data() + i * shape.row_bytes, want.data(),
                    shape.row_bytes) != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "key ", KeyName(ids[i]),
          " holds other bytes than engram-bench writes; repopulate it"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BackendFactory> BaselineBackendFactory(
    BaselineKind kind, const std::string& address, TableShape shape,
    bool populate) {
  if (shape.rows == 0 || shape.row_bytes == 0) {
    return absl::InvalidArgumentError("--rows and --row-bytes must be > 0");
  }
  ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<BaselineBackend> probe,
                          MakeBackend(kind, address, shape.row_bytes));
  if (populate) ENGRAM_RETURN_IF_ERROR(Populate(kind, *probe, address, shape));
  ENGRAM_RETURN_IF_ERROR(Verify(*probe, shape));
  return BackendFactory([kind, address, row_bytes = shape.row_bytes]()
                            -> absl::StatusOr<std::unique_ptr<BenchBackend>> {
    ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<BaselineBackend> backend,
                            MakeBackend(kind, address, row_bytes));
    return std::unique_ptr<BenchBackend>(std::move(backend));
  });
}

}  // namespace engram::bench
