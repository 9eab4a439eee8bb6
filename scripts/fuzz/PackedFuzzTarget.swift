// libFuzzer entry for the packed data file's reader (compiled by scripts/fuzz.sh with
// Sources/Formats/PackedData*.swift and what they use): read the header, then verify the
// checksum. Every input must either pass or throw a PackedData.Failure naming the file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPackedData(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let file = UnsafeRawBufferPointer(start: data, count: size)
    guard let header = try? PackedData.header(of: file, path: "fuzz") else { return 0 }
    _ = try? PackedData.verify(file, header: header, path: "fuzz")
    return 0
}
