-- bit: Hamming and Jaccard distances between binary vectors (pgvector behaviour)
SELECT hamming_distance('111', '111');
SELECT hamming_distance('111', '110');
SELECT hamming_distance('111', '100');
SELECT hamming_distance('111', '000');
SELECT hamming_distance('10101010101010101010', '01010101010101010101');
-- lengths around the kernels' word and vector widths (popcount over 8, 64, 256 and 512 bits)
SELECT n, hamming_distance(repeat('10', n)::bit(2 * n), repeat('01', n)::bit(2 * n)),
       hamming_distance(repeat('1', 2 * n)::bit(2 * n), (repeat('1', 2 * n - 1) || '0')::bit(2 * n))
FROM unnest(ARRAY[1, 4, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 513]) n;
SELECT hamming_distance((repeat('10', 256) || '1')::bit(513), (repeat('10', 256) || '1')::bit(513));
SELECT hamming_distance((repeat('10', 256) || '1')::bit(513), (repeat('01', 256) || '0')::bit(513));
SELECT hamming_distance(('11' || repeat('0', 509) || '11')::bit(513), ('1' || repeat('0', 511) || '1')::bit(513));
SELECT hamming_distance('', '');
SELECT hamming_distance('111', '00');
SELECT hamming_distance('111', '000'::varbit(4));
SELECT hamming_distance('111', '0000'::varbit(4));
SELECT B'101' <~> B'011';
SELECT jaccard_distance('1111', '1111');
SELECT jaccard_distance('1111', '1110');
SELECT jaccard_distance('1111', '1100');
SELECT jaccard_distance('1111', '1000');
SELECT jaccard_distance('1111', '0000');
SELECT jaccard_distance('1100', '1000');
SELECT jaccard_distance('0000', '0000');
SELECT jaccard_distance('10101010101010101010', '01010101010101010101');
SELECT n, jaccard_distance(repeat('10', n)::bit(2 * n), repeat('11', n)::bit(2 * n)),
       jaccard_distance(repeat('1', 2 * n)::bit(2 * n), (repeat('1', 2 * n - 1) || '0')::bit(2 * n))
FROM unnest(ARRAY[1, 4, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 513]) n;
SELECT jaccard_distance((repeat('10', 256) || '1')::bit(513), (repeat('10', 256) || '1')::bit(513));
SELECT jaccard_distance((repeat('10', 256) || '1')::bit(513), (repeat('01', 256) || '0')::bit(513));
SELECT jaccard_distance(('11' || repeat('0', 509) || '11')::bit(513), ('1' || repeat('0', 511) || '1')::bit(513));
SELECT jaccard_distance('', '');
SELECT jaccard_distance('1111', '000');
SELECT jaccard_distance('1111', '0000'::varbit(5));
SELECT jaccard_distance('1111', '00000'::varbit(5));
SELECT B'1100' <%> B'1010';
-- binary_quantize produces bits the operators take
SELECT binary_quantize('[1,-1,2,-2]'::vector) <~> binary_quantize('[1,1,-2,-2]'::vector);
SELECT binary_quantize('[1,-1,2,-2]'::halfvec) <%> binary_quantize('[1,1,-2,-2]'::halfvec);
