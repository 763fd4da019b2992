; JSX element names (React components) as references; used by JavaScript and TSX.

(jsx_opening_element
  name: (identifier) @reference.class)

(jsx_self_closing_element
  name: (identifier) @reference.class)
