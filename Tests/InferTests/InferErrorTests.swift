import Testing
@testable import Infer

@Test func inferErrorNamesTheFile() {
    #expect(InferError.model(file: "m.gguf", message: "no tensor output_norm.weight").description
            == "m.gguf: no tensor output_norm.weight")
}
