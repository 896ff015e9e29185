#include "cli/row_file_writer.h"

#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/addressing/npy.h"
#include "common/sync_path.h"

namespace engram::cli {

RowFileWriter::RowFileWriter(std::string path, std::optional<NpyArray> npy,
                             uint64_t header_bytes)
    : path_(std::move(path)),
      npy_(std::move(npy)),
      header_bytes_(header_bytes),
      bytes_(header_bytes) {}

absl::StatusOr<std::unique_ptr<RowFileWriter>> RowFileWriter::CreateNpy(
    const std::string& path, std::string descr, std::vector<uint64_t> row_shape,
    uint64_t max_rows, std::optional<uint64_t> resume_after_bytes) {
  return Open(path, NpyArray{std::move(descr), std::move(row_shape), max_rows},
              resume_after_bytes);
}

absl::StatusOr<std::unique_ptr<RowFileWriter>> RowFileWriter::CreateRaw(
    const std::string& path, std::optional<uint64_t> resume_after_bytes) {
  return Open(path, std::nullopt, resume_after_bytes);
}

absl::StatusOr<std::unique_ptr<RowFileWriter>> RowFileWriter::Open(
    const std::string& path, std::optional<NpyArray> npy,
    std::optional<uint64_t> resume_after_bytes) {
  uint64_t header_bytes = 0;
  if (npy.has_value()) {
    std::vector<uint64_t> largest = {npy->max_rows};
    largest.insert(largest.end(), npy->row_shape.begin(), npy->row_shape.end());
    // More rows need no more digits than the most there can be.
    header_bytes = internal::EncodeNpyHeader(npy->descr, largest).size();
  }
  auto writer = std::unique_ptr<RowFileWriter>(
      new RowFileWriter(path, std::move(npy), header_bytes));
  if (resume_after_bytes.has_value()) {
    std::error_code error;
    const uint64_t size = std::filesystem::file_size(path, error);
    if (error) {
      return absl::ErrnoToStatus(error.value(),
                                 absl::StrCat("cannot go on with ", path));
    }
    writer->bytes_ = header_bytes + *resume_after_bytes;
    if (size < writer->bytes_) {
      return absl::DataLossError(
          absl::StrCat(path, " holds ", size, " bytes, fewer than the ",
                       writer->bytes_, " written before it was interrupted"));
    }
    std::filesystem::resize_file(path, writer->bytes_, error);
    if (error) {
      return absl::ErrnoToStatus(error.value(),
                                 absl::StrCat("cannot cut ", path));
    }
    writer->out_.open(path, std::ios::binary | std::ios::in | std::ios::out);
  } else {
    writer->out_.open(path, std::ios::binary | std::ios::out | std::ios::trunc);
  }
  if (!writer->out_) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", path));
  }
  // A new file's header goes into this room at Finish.
  writer->out_.seekp(static_cast<std::streamoff>(writer->bytes_));
  if (!writer->out_) return writer->WriteFailed();
  return writer;
}

absl::Status RowFileWriter::Append(absl::string_view rows) {
  out_.write(rows.data(), static_cast<std::streamsize>(rows.size()));
  if (!out_) return WriteFailed();
  bytes_ += rows.size();
  return absl::OkStatus();
}

absl::Status RowFileWriter::Sync() {
  out_.flush();
  if (!out_) return WriteFailed();
  return SyncPath(path_);
}

absl::Status RowFileWriter::Finish(uint64_t rows) {
  if (npy_.has_value()) {
    if (rows > npy_->max_rows) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": ", rows, " rows, more than the ",
                       npy_->max_rows, " its header has room for"));
    }
    out_.seekp(0);
    out_ << Header(rows);
  }
  out_.close();
  if (!out_) return WriteFailed();
  return SyncPath(path_);
}

std::string RowFileWriter::Header(uint64_t rows) const {
  std::vector<uint64_t> shape = {rows};
  shape.insert(shape.end(), npy_->row_shape.begin(), npy_->row_shape.end());
  return internal::EncodeNpyHeader(npy_->descr, shape, header_bytes_);
}

absl::Status RowFileWriter::WriteFailed() const {
  return absl::DataLossError(
      absl::StrCat("cannot write all of ", path_, " (disk full?)"));
}

}  // namespace engram::cli
