// SafetensorsCheckpoint: the tensors of a Hugging Face folder, single-file or sharded, as one name →
// tensor table over memory-mapped files. With `model.safetensors.index.json` the index decides which
// shard holds which tensor and must agree with the shards (as llama.cpp's converter checks); without
// it, every `*.safetensors` in the folder is read (duplicates across files are an error).

import Foundation

public final class SafetensorsCheckpoint: @unchecked Sendable {
    public let directory: String
    public let files: [SafetensorsFile]
    /// (file index, tensor) in a stable order: by file, then by offset within the file.
    public let tensors: [(file: Int, tensor: SafetensorsTensor)]
    private let byName: [String: Int]

    public init(directory: String) throws {
        self.directory = directory
        let fm = FileManager.default
        let indexPath = directory + "/model.safetensors.index.json"
        var fileNames: [String]
        var expected: [String: String]? = nil
        if fm.fileExists(atPath: indexPath) {
            guard let index = try JSON.parseFile(indexPath) as? [String: Any],
                  let map = index["weight_map"] as? [String: Any] else {
                throw FormatError.json(file: indexPath, message: "expected an object with \"weight_map\"")
            }
            var m: [String: String] = [:]
            for (k, v) in map {
                guard let f = v as? String, SafetensorsCheckpoint.isPlainFileName(f) else {
                    throw FormatError.invalid(file: indexPath, field: "weight_map[\(k)]", value: "\(v)",
                                              reason: "must name a file in the same folder")
                }
                m[k] = f
            }
            expected = m
            fileNames = Array(Set(m.values)).sorted()
        } else {
            let all = (try? fm.contentsOfDirectory(atPath: directory)) ?? []
            fileNames = all.filter { $0.hasSuffix(".safetensors") && !$0.hasPrefix(".") }.sorted()
            if fileNames.contains("model.safetensors") { fileNames = ["model.safetensors"] }
        }
        guard !fileNames.isEmpty else {
            throw FormatError.missing(file: directory, field: "*.safetensors (no weights in folder)")
        }
        var files: [SafetensorsFile] = []
        var tensors: [(file: Int, tensor: SafetensorsTensor)] = []
        var byName: [String: Int] = [:]
        for (i, f) in fileNames.enumerated() {
            let sf = try SafetensorsFile(path: directory + "/" + f)
            files.append(sf)
            for t in sf.tensors {
                if byName[t.name] != nil {
                    throw FormatError.invalid(file: sf.path, field: "tensor name", value: t.name,
                                              reason: "also present in another shard")
                }
                if let expected, expected[t.name] != f {
                    throw FormatError.invalid(file: sf.path, field: "tensor name", value: t.name,
                                              reason: "not listed for this shard in model.safetensors.index.json")
                }
                byName[t.name] = tensors.count
                tensors.append((i, t))
            }
        }
        if let expected {
            for name in expected.keys.sorted() where byName[name] == nil {
                throw FormatError.missing(file: directory + "/" + expected[name]!, field: "tensor \(name) (listed in the index)")
            }
        }
        self.files = files
        self.tensors = tensors
        self.byName = byName
    }

    public func tensor(named name: String) -> (file: SafetensorsFile, tensor: SafetensorsTensor)? {
        byName[name].map { (files[tensors[$0].file], tensors[$0].tensor) }
    }

    public var names: [String] { tensors.map(\.tensor.name) }

    static func isPlainFileName(_ f: String) -> Bool {
        !f.isEmpty && !f.contains("/") && !f.contains("\\") && f != "." && f != ".." && !f.contains("\0")
    }
}
