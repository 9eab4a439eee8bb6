// libFuzzer entry for the safetensors reader (compiled by scripts/fuzz.sh with
// Sources/Formats/SafeTensor*.swift): decode, then read every tensor as each type. Every input
// must either decode or throw a SafeTensorsError.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let file = try? SafeTensors.decode(Array(UnsafeBufferPointer(start: data, count: size))) else { return 0 }
    for entry in file.entries.values {
        _ = try? entry.floats()
        _ = try? entry.int64s()
        _ = try? entry.bools()
    }
    return 0
}
