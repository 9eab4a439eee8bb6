// Writes the JPEG seeds of the image-decoder fuzz target into the directory given as argument
// (scripts/fuzz.sh compiles and runs it): small files from TurboJPEG's own encoder, so they carry
// the tables, subsampling and scan layouts real files have. make_seeds.py writes the PNG seeds.
import CTurboJPEG
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@main
struct JPEGSeeds {
    static func main() {
        let dir = CommandLine.arguments[1]
        let (width, height) = (19, 13) // not a multiple of the 8 or 16 pixel MCU
        let rgb = (0..<(width * height * 3)).map { UInt8(truncatingIfNeeded: $0 * 7 + ($0 / 57) * 13) }
        let cmyk = (0..<(width * height * 4)).map { UInt8(truncatingIfNeeded: $0 * 5 + 60) }
        let gray = Array(rgb[..<(width * height)])
        let seeds: [(String, [UInt8], TJPF, TJSAMP, Int32)] = [
            ("gray.jpg", gray, TJPF_GRAY, TJSAMP_GRAY, 0),
            ("rgb-420.jpg", rgb, TJPF_RGB, TJSAMP_420, 0),
            ("rgb-444.jpg", rgb, TJPF_RGB, TJSAMP_444, 0),
            ("rgb-422-progressive.jpg", rgb, TJPF_RGB, TJSAMP_422, TJFLAG_PROGRESSIVE),
            ("gray-progressive.jpg", gray, TJPF_GRAY, TJSAMP_GRAY, TJFLAG_PROGRESSIVE),
            ("cmyk.jpg", cmyk, TJPF_CMYK, TJSAMP_420, 0),
        ]
        let handle = tjInitCompress()!
        for (name, pixels, format, subsampling, flags) in seeds {
            var jpeg: UnsafeMutablePointer<UInt8>?
            var size: UInt = 0
            let status = tjCompress2(handle, pixels, Int32(width), 0, Int32(height), format.rawValue, &jpeg, &size,
                                     Int32(subsampling.rawValue), 80, flags)
            guard status == 0, let file = fopen("\(dir)/\(name)", "wb") else {
                fputs("JPEGSeeds: cannot write \(dir)/\(name): \(String(cString: tjGetErrorStr2(handle)))\n", stderr)
                exit(1)
            }
            fwrite(jpeg, 1, Int(size), file)
            fclose(file)
            tjFree(jpeg)
        }
        tjDestroy(handle)
    }
}
