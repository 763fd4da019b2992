; inherits: _ecma, _jsx
; JavaScript (the grammar parses JSX too): the shared patterns plus `extends` references.

(class_heritage
  (identifier) @reference.class)
