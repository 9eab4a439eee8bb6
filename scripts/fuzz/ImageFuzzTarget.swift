// libFuzzer entry for the image decoder (scripts/fuzz.sh compiles it with the Data sources it
// needs, as one module, and links libpng and TurboJPEG): decode PNG or JPEG bytes, then resize
// the image and convert its channels, so whatever the decoder returns is also consistent enough
// to use. Every input must either decode or throw a DataError.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImageDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let image = try? ImageDecoder.decode(UnsafeRawBufferPointer(start: data, count: size), path: "fuzz") else { return 0 }
    _ = ImageResize.fit(image, height: 28, width: 28)
    _ = ImageResize.fit(image.converted(toChannels: 4 - image.channels), height: 5, width: 9)
    return 0
}
