#include "cli/row_file_writer.h"

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/addressing/npy.h"

namespace engram::cli {

RowFileWriter::RowFileWriter(std::string path, std::optional<NpyArray> npy,
                             uint64_t header_bytes)
    : path_(std::move(path)),
      npy_(std::move(npy)),
      header_bytes_(header_bytes),
      bytes_(header_bytes) {}

absl::StatusOr<std::unique_ptr<RowFileWriter>> RowFileWriter::CreateNpy(
    const std::string& path, std::string descr, std::vector<uint64_t> row_shape,
    uint64_t max_rows) {
  return Create(path,
                NpyArray{std::move(descr), std::move(row_shape), max_rows});
}

absl::StatusOr<std::unique_ptr<RowFileWriter>> RowFileWriter::CreateRaw(
    const std::string& path) {
  return Create(path, std::nullopt);
}

absl::StatusOr<std::unique_ptr<RowFileWriter>> RowFileWriter::Create(
    const std::string& path, std::optional<NpyArray> npy) {
  uint64_t header_bytes = 0;
  if (npy.has_value()) {
    std::vector<uint64_t> largest = {npy->max_rows};
    largest.insert(largest.end(), npy->row_shape.begin(), npy->row_shape.end());
    // More rows need no more digits than the most there can be.
    header_bytes = internal::EncodeNpyHeader(npy->descr, largest).size();
  }
  auto writer = std::unique_ptr<RowFileWriter>(
      new RowFileWriter(path, std::move(npy), header_bytes));
  writer->out_.open(path, std::ios::binary | std::ios::trunc);
  if (!writer->out_) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", path));
  }
  // The header goes into this room at Finish.
  writer->out_.seekp(static_cast<std::streamoff>(header_bytes));
  if (!writer->out_) return writer->WriteFailed();
  return writer;
}

absl::Status RowFileWriter::Append(absl::string_view rows) {
  out_.write(rows.data(), static_cast<std::streamsize>(rows.size()));
  if (!out_) return WriteFailed();
  bytes_ += rows.size();
  return absl::OkStatus();
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
  return absl::OkStatus();
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
