// libFuzzer entry for the NumPy readers (scripts/fuzz.sh compiles it together with the Data
// sources they need, as one module, so the in-memory sources are reachable). Each input is read
// as an .npy array (whole, as images, as labels) and as an .npz archive whose every member is
// read as images and as labels. Every input must either parse or throw a DataError: a crash, an
// AddressSanitizer report, a hang or an allocation over the malloc limit is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNumpyReaders(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? NumpyArray.read(from: MemorySource(bytes, name: "fuzz"))
    _ = try? NumpyImages.read(from: MemorySource(bytes, name: "fuzz"), layout: .auto)
    _ = try? NumpyDataset.readLabels(from: MemorySource(bytes, name: "fuzz"))
    if let archive = try? ZipArchive(MemorySource(bytes, name: "fuzz")) {
        for member in archive.members {
            _ = try? NumpyImages.read(from: ZipMemberSource(archive, member), layout: .auto)
            _ = try? NumpyDataset.readLabels(from: ZipMemberSource(archive, member))
        }
    }
    return 0
}
