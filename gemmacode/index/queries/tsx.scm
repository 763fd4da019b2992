; inherits: typescript, _jsx
; TSX: TypeScript plus JSX element references.
