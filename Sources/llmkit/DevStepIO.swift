// DevStepIO: what `dev train-step` and `dev lora-step` share — reading a batch file, reading and writing parameters
// as F32 safetensors, and the CPU time and per-op table of their --bench. Not here: building the models.
// B.json is {"batch", "length", "inputs": [B·T], "targets": [B·T, −1 = not scored]}.
import Finetune
import Formats
import Foundation

enum DevStepIO {
    /// The batch in a B.json file.
    static func loadBatch(_ path: String) throws -> (batch: Int, length: Int, inputs: [Int32], targets: [Int32]) {
        guard let obj = try JSON.parseFile(path) as? [String: Any] else { throw FinetuneError.data(file: path, message: "not a JSON object") }
        guard let b = JSON.int(obj["batch"]), let t = JSON.int(obj["length"]), b > 0, t > 0 else {
            throw FinetuneError.data(file: path, message: "needs positive integer batch and length")
        }
        func ints(_ key: String) throws -> [Int32] {
            guard let a = obj[key] as? [Any] else { throw FinetuneError.data(file: path, message: "needs an array \(key)") }
            return try a.map {
                guard let v = JSON.int($0), let i = Int32(exactly: v) else { throw FinetuneError.data(file: path, message: "\(key) holds a non-integer") }
                return i
            }
        }
        return (b, t, try ints("inputs"), try ints("targets"))
    }

    /// Copies each parameter's value from the F32 tensor of its name in a safetensors file. With `unknown`, a tensor
    /// that is no parameter is an error whose message `unknown` gives.
    static func load(_ params: [Parameter], from path: String, unknown: ((String) -> String)? = nil) throws {
        let file = try SafetensorsFile(path: path)
        if let unknown {
            let known = Set(params.map(\.name))
            if let extra = file.tensors.map(\.name).sorted().first(where: { !known.contains($0) }) {
                throw FinetuneError.data(file: path, message: unknown(extra))
            }
        }
        for p in params {
            guard let t = file.tensor(named: p.name) else { throw FinetuneError.data(file: path, message: "missing tensor \(p.name)") }
            guard t.dtype == .f32, t.shape == p.shape else {
                throw FinetuneError.data(file: path, message: "\(p.name) is \(t.dtype) \(t.shape), expected F32 \(p.shape)")
            }
            UnsafeMutableRawBufferPointer(p.value).copyMemory(from: file.data(of: t))
        }
    }

    /// Writes the parameters' values (or gradients) as F32 safetensors named as the parameters.
    static func write(_ params: [Parameter], values: Bool, to path: String, metadata: [String: String]) throws {
        let specs = params.map { SafetensorsTensorSpec(name: $0.name, dtype: .f32, shape: $0.shape) }
        try SafetensorsWriter.write(to: path, tensors: specs, metadata: metadata) { i, sink in
            try sink.write(UnsafeRawBufferPointer(values ? params[i].value : params[i].grad))
        }
    }

    /// User plus system CPU time of this process so far, all threads.
    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) * 1e-6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) * 1e-6
    }

    /// Prints forward and backward milliseconds per step of each op family.
    static func printProfile(_ profile: OpProfile, steps: Int) {
        print("per step, ms:      forward  backward")
        for f in OpProfile.Family.allCases {
            let s = profile.seconds[f.rawValue]
            print("  " + f.name.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: " %8.2f  %8.2f", s[0] / Double(steps) * 1e3, s[1] / Double(steps) * 1e3))
        }
    }
}
