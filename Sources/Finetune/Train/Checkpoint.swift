// Checkpoint: a training run's complete state on disk, written atomically, so a run killed at any moment
// resumes from its newest complete checkpoint and continues bit for bit.
//
//   runs/NAME/checkpoints/step-NNNNNN/
//     model.safetensors       every parameter by its GGUF name, F32, row-major shape (PyTorch order)
//     optimizer.safetensors   NAME.adam_m and NAME.adam_v per parameter (AdamW's first and second moments)
//     state.json              TrainState: step, RNG, model config, options, optimizer step, tokenizer keys,
//                             best validation loss/step, patience counter, data digest, timers
//
// Writing: everything goes into `checkpoints/.tmp-step-NNNNNN-PID/` (each file itself temp + fsync + rename),
// the folder is fsynced and renamed to `step-NNNNNN`, then `checkpoints/` is fsynced. A folder whose name is
// not `step-` + digits is never read; `removeTemporary` deletes leftovers of a killed writer. Pruning keeps the
// newest `keep` checkpoints plus the best one.
//
// Test hook: with LLMKIT_CHECKPOINT_PAUSE=SECONDS in the environment (and LLMKIT_CHECKPOINT_PAUSE_STEP=N to pause
// only at step N), the writer prints "checkpoint: paused writing PATH" to stderr in the middle of
// optimizer.safetensors (after its first tensor) and sleeps, so a test can SIGKILL the process while a checkpoint
// is half written.

import Foundation
import Formats

/// One parameter's AdamW moments (owned by the optimizer; the checkpoint reads and restores them in place).
public struct OptimizerMoments {
    public let name: String
    public let m: UnsafeMutableBufferPointer<Float>
    public let v: UnsafeMutableBufferPointer<Float>
    public init(name: String, m: UnsafeMutableBufferPointer<Float>, v: UnsafeMutableBufferPointer<Float>) {
        self.name = name; self.m = m; self.v = v
    }
}

/// What the data file was, so a resume with other data is refused.
public struct DataInfo: Codable, Equatable, Sendable {
    public var file: String
    public var sha256: String
    public var characters: Int
    public var tokens: Int
    public var trainTokens: Int
    public var validationTokens: Int
    /// Characters of the validation part (bits per character = val loss · tokens / characters / ln 2).
    public var validationCharacters: Int
    public init(file: String, sha256: String, characters: Int, tokens: Int, trainTokens: Int, validationTokens: Int,
                validationCharacters: Int) {
        self.file = file; self.sha256 = sha256; self.characters = characters; self.tokens = tokens
        self.trainTokens = trainTokens; self.validationTokens = validationTokens; self.validationCharacters = validationCharacters
    }
}

/// The tokenizer a run trains with: its kind ("char", "bpe", "file") and its GGUF keys.
public struct TokenizerInfo: Codable, Equatable, Sendable {
    public var kind: String
    /// Where it came from (a tokenizer.json path, or "trained on the corpus").
    public var source: String
    public var keys: [MetadataRecord]
    public init(kind: String, source: String, metadata: GGUFMetadata) throws {
        self.kind = kind; self.source = source; keys = try MetadataRecord.records(metadata)
    }
    public func metadata() throws -> GGUFMetadata { try MetadataRecord.metadata(keys) }
}

/// Everything besides the tensors that a resumed run needs.
public struct TrainState: Codable, Equatable, Sendable {
    public var format = 1
    /// Optimizer steps completed (the checkpoint holds the weights after this step).
    public var step: Int
    public var rng: TrainRNG
    public var model: ModelConfig
    public var options: TrainOptions
    public var optimizerStep: Int
    /// The learning rate step `step` used.
    public var learningRate: Float
    public var tokenizer: TokenizerInfo
    public var data: DataInfo
    public var bestValLoss: Float?
    public var bestStep: Int?
    public var lastValLoss: Float?
    /// Evaluations since the best one (early stopping's counter).
    public var evalsWithoutImprovement: Int = 0
    /// Wall time in training steps only (tokens/s), and in the whole run, summed over resumptions.
    public var trainingSeconds: Double = 0
    public var elapsedSeconds: Double = 0
    public var tokensSeen: Int = 0
    public var earlyStopped = false

    public init(step: Int, rng: TrainRNG, model: ModelConfig, options: TrainOptions, optimizerStep: Int,
                learningRate: Float, tokenizer: TokenizerInfo, data: DataInfo) {
        self.step = step; self.rng = rng; self.model = model; self.options = options
        self.optimizerStep = optimizerStep; self.learningRate = learningRate; self.tokenizer = tokenizer; self.data = data
    }
}

public enum Checkpoint {
    public static let folderPrefix = "step-"
    static let tempPrefix = ".tmp-step-"

    public static func folderName(step: Int) -> String {
        let digits = String(step)
        return folderPrefix + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    public static func directory(run: String) -> String { run + "/checkpoints" }

    /// Writes a checkpoint of `state.step` into the run's checkpoints folder and returns its path. An existing
    /// checkpoint of the same step is replaced.
    @discardableResult
    public static func write(run: String, state: TrainState, parameters: [Parameter], moments: [OptimizerMoments]) throws -> String {
        try write(run: run, step: state.step, state: state, parameters: parameters, moments: moments)
    }

    /// The same for any run state (`llmkit finetune`'s FinetuneState): state.json holds `state` as JSON.
    @discardableResult
    public static func write<State: Encodable>(run: String, step: Int, state: State, parameters: [Parameter],
                                               moments: [OptimizerMoments]) throws -> String {
        let dir = directory(run: run)
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw FinetuneError.checkpoint(file: dir, message: "cannot create: \(error.localizedDescription)")
        }
        let final = dir + "/" + folderName(step: step)
        let temp = dir + "/" + tempPrefix + folderName(step: step).dropFirst(folderPrefix.count) + "-\(getpid())"
        try? fm.removeItem(atPath: temp)
        do { try fm.createDirectory(atPath: temp, withIntermediateDirectories: false) } catch {
            throw FinetuneError.checkpoint(file: temp, message: "cannot create: \(error.localizedDescription)")
        }
        do {
            try writeTensors(temp + "/model.safetensors", parameters.map { ($0.name, $0.shape, UnsafeBufferPointer($0.value)) },
                             pause: false)
            let shapes = Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.shape) })
            var opt: [(String, [Int], UnsafeBufferPointer<Float>)] = []
            for mo in moments {
                let shape = shapes[mo.name] ?? [mo.m.count]
                opt.append((mo.name + ".adam_m", shape, UnsafeBufferPointer(mo.m)))
                opt.append((mo.name + ".adam_v", shape, UnsafeBufferPointer(mo.v)))
            }
            let env = ProcessInfo.processInfo.environment
            let pause = env["LLMKIT_CHECKPOINT_PAUSE_STEP"].map { Int($0) == step } ?? true
            try writeTensors(temp + "/optimizer.safetensors", opt, pause: pause)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicOutput.write(Array(try enc.encode(state)) + [0x0A], to: temp + "/state.json")
            fsyncPath(temp)
            if fm.fileExists(atPath: final) {
                let old = dir + "/" + tempPrefix + "old-\(getpid())"
                try? fm.removeItem(atPath: old)
                guard rename(final, old) == 0 else { throw posixError(final, "rename") }
                guard rename(temp, final) == 0 else { throw posixError(final, "rename") }
                try? fm.removeItem(atPath: old)
            } else {
                guard rename(temp, final) == 0 else { throw posixError(final, "rename") }
            }
            fsyncPath(dir)
        } catch {
            try? fm.removeItem(atPath: temp)
            if let e = error as? FinetuneError { throw e }
            throw FinetuneError.checkpoint(file: temp, message: "\(error)")
        }
        return final
    }

    static func writeTensors(_ path: String, _ tensors: [(String, [Int], UnsafeBufferPointer<Float>)], pause: Bool) throws {
        let specs = tensors.map { SafetensorsTensorSpec(name: $0.0, dtype: .f32, shape: $0.1) }
        var written = 0
        let pauseSeconds = pause ? ProcessInfo.processInfo.environment["LLMKIT_CHECKPOINT_PAUSE"].flatMap(Double.init) : nil
        try SafetensorsWriter.write(to: path, tensors: specs, metadata: ["format": "pt"]) { i, sink in
            try sink.write(UnsafeRawBufferPointer(tensors[i].2))
            written += 1
            if written == 1, let pauseSeconds {
                try? FileHandle.standardError.write(contentsOf: Data("checkpoint: paused writing \(path)\n".utf8))
                Thread.sleep(forTimeInterval: pauseSeconds)
            }
        }
    }

    /// Complete checkpoints of a run, oldest first.
    public static func list(run: String) -> [(step: Int, path: String)] {
        let dir = directory(run: run)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        var out: [(Int, String)] = []
        for n in names where n.hasPrefix(folderPrefix) {
            let digits = n.dropFirst(folderPrefix.count)
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let step = Int(digits) else { continue }
            let p = dir + "/" + n
            guard ["model.safetensors", "optimizer.safetensors", "state.json"].allSatisfy({ FileManager.default.fileExists(atPath: p + "/" + $0) }) else { continue }
            out.append((step, p))
        }
        return out.sorted { $0.0 < $1.0 }.map { (step: $0.0, path: $0.1) }
    }

    /// Deletes what a killed writer left behind (temporary folders); returns their names.
    @discardableResult
    public static func removeTemporary(run: String) -> [String] {
        let dir = directory(run: run)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        var removed: [String] = []
        for n in names where n.hasPrefix(tempPrefix) {
            try? FileManager.default.removeItem(atPath: dir + "/" + n)
            removed.append(n)
        }
        return removed
    }

    /// Keeps the newest `keep` checkpoints and the one of step `best`; deletes the rest.
    public static func prune(run: String, keep: Int, best: Int?) {
        let all = list(run: run)
        for (i, c) in all.enumerated() where i < all.count - keep && c.step != best {
            try? FileManager.default.removeItem(atPath: c.path)
        }
    }

    /// Where a run continues from. With `resume`: half-written checkpoints are removed (and logged), then the newest
    /// complete checkpoint with its state read by `readState` (none is an error). Without: nil, and a run folder that
    /// already holds checkpoints is an error.
    public static func resumePoint<State>(run: String, resume: Bool, log: (String) -> Void,
                                          readState: (String) throws -> State) throws -> (step: Int, path: String, state: State)? {
        guard resume else {
            if !list(run: run).isEmpty {
                throw FinetuneError.config("\(run) already holds a run with checkpoints; continue it with --resume or choose another --out")
            }
            return nil
        }
        let removed = removeTemporary(run: run)
        if !removed.isEmpty { log("resume: removed half-written \(removed.joined(separator: ", "))") }
        guard let newest = list(run: run).last else {
            throw FinetuneError.checkpoint(file: directory(run: run), message: "no complete checkpoint to resume from")
        }
        return (newest.step, newest.path, try readState(newest.path))
    }

    public static func readState(_ path: String) throws -> TrainState {
        try readState(path, as: TrainState.self, what: "a training state")
    }

    /// The state.json of the checkpoint at `path` as `type`; `what` names the type in the error when it is not one.
    public static func readState<State: Decodable>(_ path: String, as type: State.Type, what: String) throws -> State {
        let file = path + "/state.json"
        guard let data = FileManager.default.contents(atPath: file) else {
            throw FinetuneError.checkpoint(file: file, message: "cannot read")
        }
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw FinetuneError.checkpoint(file: file, message: "not \(what): \(error)")
        }
    }

    /// Copies a checkpoint's tensors into `parameters` (and `moments`), checking names and shapes.
    public static func restore(_ path: String, parameters: [Parameter], moments: [OptimizerMoments]?) throws {
        let shapes = Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.shape) })
        try read(path + "/model.safetensors", parameters.map { ($0.name, $0.shape, $0.value) })
        if let moments {
            var targets: [(String, [Int], UnsafeMutableBufferPointer<Float>)] = []
            for mo in moments {
                let shape = shapes[mo.name] ?? [mo.m.count]
                targets.append((mo.name + ".adam_m", shape, mo.m))
                targets.append((mo.name + ".adam_v", shape, mo.v))
            }
            try read(path + "/optimizer.safetensors", targets)
        }
    }

    static func read(_ file: String, _ targets: [(String, [Int], UnsafeMutableBufferPointer<Float>)]) throws {
        let st: SafetensorsFile
        do { st = try SafetensorsFile(path: file) } catch { throw FinetuneError.checkpoint(file: file, message: "\(error)") }
        guard st.tensors.count == targets.count else {
            throw FinetuneError.checkpoint(file: file, message: "holds \(st.tensors.count) tensors, the model has \(targets.count)")
        }
        for (name, shape, dst) in targets {
            guard let t = st.tensor(named: name) else { throw FinetuneError.checkpoint(file: file, message: "no tensor \(name)") }
            guard t.dtype == .f32, t.shape == shape else {
                throw FinetuneError.checkpoint(file: file, message: "\(name) is \(t.dtype) \(t.shape), expected F32 \(shape)")
            }
            let src = st.data(of: t)
            precondition(src.count == dst.count * 4)
            UnsafeMutableRawBufferPointer(dst).copyMemory(from: src)
        }
    }

    static func fsyncPath(_ path: String) {
        let fd = open(path, O_RDONLY)
        if fd >= 0 { _ = fsync(fd); close(fd) }
    }

    static func posixError(_ path: String, _ op: String) -> FinetuneError {
        FinetuneError.checkpoint(file: path, message: "\(op) failed: \(String(cString: strerror(errno)))")
    }
}
