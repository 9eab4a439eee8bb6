// libFuzzer entry for the dataset parsers (scripts/fuzz.sh compiles it together with the Data
// sources it needs, as one module, so the in-memory byte sources are reachable). Every input
// must either parse or throw a DataError: a crash, an AddressSanitizer report, a hang or an
// allocation over the malloc limit is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDatasetParsers(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? IDXReader.readImages(from: IDXReader.source(bytes: bytes, name: "fuzz"))
    _ = try? IDXReader.readLabels(from: IDXReader.source(bytes: bytes, name: "fuzz"), classes: 10)
    _ = try? CIFAR10Reader.read(sources: [MemorySource(bytes, name: "fuzz")])
    return 0
}
